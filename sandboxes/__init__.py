"""Code execution backends (bubblewrap, gVisor, Docker, local) and the sandbox service."""
