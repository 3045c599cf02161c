"""The MIDI models: MIDI I/O and event codecs, the MIDI-event LSTM and its interval loss,
the piano-roll chord GAN, and the music measures."""
