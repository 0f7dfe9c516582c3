"""Where the data-parallel steps run: in this process (``local``) or as Ray Data jobs (``ray``).

Both engines take the same thing, a function and a list of partitions (one dict per
partition: which Parquet files to read, where to write), and return the function's result
for each partition in order. The functions themselves (`pipelines.batch`) are the same for
both engines, so the two can only differ in float rounding.

With Ray every partition is a row of a Ray Data dataset mapped by the function on the
cluster's workers; the large read-only arguments (song vectors, the catalogue) go into the
object store once. Without ``address`` a local Ray instance is started and shut down again.
On a cluster, the run folder must be on storage that every node sees (NFS, a mounted bucket).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import traceback
from collections.abc import Callable
from typing import Any, Protocol

from pipelines.schemas import DataError
from pipelines.step import BadInput

logger = logging.getLogger(__name__)

PartitionFn = Callable[..., Any]


class Engine(Protocol):
    name: str

    def map(self, fn: PartitionFn, items: list[dict], /, **shared: Any) -> list[Any]:
        """``[fn(item, **shared) for item in items]``, wherever the engine runs it."""
        ...

    def close(self) -> None: ...


class LocalEngine:
    """Partitions one after the other in this process (polars and numpy use the cores)."""

    name = "local"

    def map(self, fn: PartitionFn, items: list[dict], /, **shared: Any) -> list[Any]:
        return [fn(item, **shared) for item in items]

    def close(self) -> None:
        pass


class _Call:
    """A Ray Data row function: fetch the shared arguments once per worker, call `fn`, and
    return its (pickled) result with the partition's position, or what it raised."""

    def __init__(self, fn: PartitionFn, shared_ref: Any) -> None:
        self.fn, self.shared_ref = fn, shared_ref

    def __call__(self, row: dict) -> dict:
        import ray

        shared = ray.get(self.shared_ref)
        item = pickle.loads(row["item"])
        try:
            result, error = pickle.dumps(self.fn(item, **shared)), ""
        except Exception as failure:
            # Ray would wrap it in its own exception types; the driver re-raises it as
            # songspace's (bad input stays bad input, exit code 2).
            result, error = b"", json.dumps({
                "bad_input": isinstance(failure, DataError | BadInput),
                "message": f"{failure}", "type": type(failure).__name__,
                "traceback": traceback.format_exc()})
        return {"position": row["position"], "result": result, "error": error}


def _raise_remote(error: str) -> None:
    found = json.loads(error)
    raised: Exception = BadInput(found["message"]) if found["bad_input"] else RuntimeError(
        f"{found['type']}: {found['message']}")
    raised.add_note(f"raised in a Ray task:\n{found['traceback']}")
    raise raised


class RayEngine:
    """Partitions as Ray Data tasks on a local Ray instance or an existing cluster.

    Parameters
    ----------
    address : str, optional
        A cluster to join (``ray://host:10001`` or ``auto``); None starts a local instance.
    num_cpus : int, optional
        CPUs of the local instance (all of this machine's by default).
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        import ray

        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
            if address:
                try:
                    ray.init(address=address, **options)
                except ConnectionError as error:
                    # Ray's own message names only the address; the usual cause is the
                    # cluster's token authentication, which a driver must match.
                    raise ConnectionError(
                        f"{error}. Is the cluster up (`ray status --address {address}`)? A "
                        "cluster started with token authentication (Ray's default) needs its "
                        "token here; one started with RAY_AUTH_MODE=disabled needs that "
                        "variable set here too") from error
            else:
                ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False,
                         **options)
        # Ray Data logs every dataset's plan at INFO; the pipeline shows its own progress.
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.execution_options.preserve_order = True

    def map(self, fn: PartitionFn, items: list[dict], /, **shared: Any) -> list[Any]:
        if not items:
            return []
        ray = self._ray
        rows = [{"position": n, "item": pickle.dumps(item)} for n, item in enumerate(items)]
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows))
        # num_cpus=1 per partition: Ray runs as many partitions at once as there are CPUs.
        out = dataset.map(_Call(fn, ray.put(shared)), num_cpus=1).take_all()
        out.sort(key=lambda r: r["position"])
        for row in out:
            if row["error"]:
                _raise_remote(row["error"])
        return [pickle.loads(r["result"]) for r in out]

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()


def make_engine(name: str, address: str | None = None) -> Engine:
    """The engine called `name` ("local" or "ray")."""
    if name == "local":
        if address:
            raise ValueError("--ray-address only goes with --engine ray")
        return LocalEngine()
    if name == "ray":
        return RayEngine(address)
    raise ValueError(f"unknown engine {name!r}; expected 'local' or 'ray'")
