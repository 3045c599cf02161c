"""Reading pages: load, staff finding, crops, recognition, assembly into stave text."""
