"""End-to-end tier: whole runs as CI and users make them: the workflows under act, image
tests and `dev` in real containers, signing and verifying with cosign."""
