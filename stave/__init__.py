"""stavegen's shared core: the stave-text format, MusicXML/MIDI/ABC conversions, atomic files,
interrupts, the checkpoint payload and the one training loop.  Both halves import it; it imports
neither."""
