"""Engine tier: builds, pushes and look-ups against a real Docker engine, buildx and
docker-registry processes started here."""
