"""stavegen's optical music recognition half (staff finding, recognition, assembly)."""
