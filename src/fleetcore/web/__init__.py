"""Server-rendered web console under /app."""
