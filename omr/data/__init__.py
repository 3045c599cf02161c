"""Training data for the recognizer: melody fragments, random staves, MEI, engraving,
photo-like degradation and the dataset builder."""
