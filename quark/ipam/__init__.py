"""IP and MAC address management: pure arithmetic and the database-backed allocators."""
