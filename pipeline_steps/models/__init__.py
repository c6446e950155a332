"""Encoders for sequence labelling: the tiny locally-built XLM-R-like model (``tiny``) and loading any
Hugging Face encoder as a word-level tagger with first-sub-word labels (``token_classification``)."""
