"""Image pipeline, volumes and VTK scenes. Pure functions where possible; no Qt here."""
