"""The recognizer: network, symbol vocabulary, CTC decoding, checkpoint."""
