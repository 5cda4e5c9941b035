"""Inference shared by every capability: embeddings (:mod:`.embedding`), the one likelihood
(:mod:`.likelihood`) and sampling (:mod:`.sampling`), on whatever device ``--device`` names."""
