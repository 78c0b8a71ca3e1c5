"""The nginx fixture for the tests of this folder (other folders import it the same way)."""

from tests.deploy.nginx import nginx_front  # noqa: F401  (a fixture, found by its name)
