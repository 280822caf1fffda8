"""Domain model and pure logic: no Qt, no VTK, no network."""
