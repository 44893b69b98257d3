"""Tests of the feedback rounds."""
