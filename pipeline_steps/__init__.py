"""xlt: cross-lingual transfer of sequence labelling, one pure step per workflow stage."""

__version__ = "0.1.0"
