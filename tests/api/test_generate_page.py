"""The web page's text-to-music panel in a real browser: a prompt with a word the model does
not know gets a note under the player, and a WAV can be varied (issue 17, items 5 and 7)."""

from __future__ import annotations

import pytest

from tests.api.conftest import serving
from tests.api.test_serve import browser  # noqa: F401

pytest.importorskip("torch")
from tests.audio_gen.conftest import tiny_model_dir, tiny_unet  # noqa: F401


def test_the_page_notes_unknown_words_and_varies_a_wav(browser, model, tiny_model_dir,  # noqa: F811
                                                       tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    from audio_gen.audio_io import write_wav

    source = write_wav(tmp_path / "source.wav", [0.1, -0.1] * 8000, 16_000)
    with serving("--artifacts", model, "--insecure-open-writes",
                 env={"SONGSPACE_API_KEY": None, "SONGSPACE_GENERATOR": str(tiny_model_dir),
                      "SONGSPACE_PROFILES": None}) as live:
        wait = WebDriverWait(browser, 60)
        browser.get(live + "/")
        wait.until(seen.visibility_of_element_located((By.ID, "generate-panel")))
        seconds = browser.find_element(By.ID, "seconds")
        seconds.clear()
        seconds.send_keys("1")
        browser.find_element(By.ID, "prompt").send_keys("a slow piano melody with yodel")
        browser.find_element(By.CSS_SELECTOR, "#generate-more summary").click()
        browser.find_element(By.ID, "mix-with").send_keys("fast drums")
        browser.find_element(By.ID, "generate-go").click()
        wait.until(seen.visibility_of_element_located((By.ID, "prompt-note")))
        assert 'does not know "yodel"' in browser.find_element(By.ID, "prompt-note").text
        assert browser.find_element(By.ID, "player").get_attribute("src").startswith("blob:")
        assert browser.find_element(By.ID, "clip-facts").text.endswith(" BPM")
        prompt = browser.find_element(By.ID, "prompt")
        prompt.clear()
        prompt.send_keys("a slow piano melody")
        browser.find_element(By.ID, "mix-with").clear()
        browser.find_element(By.ID, "variation").send_keys(str(source))
        browser.find_element(By.ID, "generate-go").click()
        wait.until(seen.invisibility_of_element_located((By.ID, "prompt-note")))
        wait.until(lambda _: browser.find_element(By.ID, "generate-go").is_enabled())
        assert not browser.find_element(By.ID, "error").text
