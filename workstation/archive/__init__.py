"""Everything that talks to an archive or the disk: the local store, its index, importers."""
