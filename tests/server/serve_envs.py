"""`agentgym serve ... --import tests.server.serve_envs`: importing this registers the test
environments of tests/server/envs.py in a server process."""

from tests.server.envs import register_test_envs

register_test_envs()
