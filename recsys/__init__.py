"""Song embeddings, recommenders and their evaluation."""
