"""The char-LSTM: a character-level language model of ABC, stave text or any text."""
