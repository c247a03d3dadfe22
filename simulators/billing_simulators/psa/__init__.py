"""Autotask-PSA-shaped simulator (ATServicesRest V1.0) for the demo and the tests.

Start it with `python -m billing_simulators.psa`, or in-process with
`running_psa_simulator()`. README.md in this folder lists what it guesses.
"""

from .app import create_app
from .config import PsaSimConfig
from .runner import RunningPsaSimulator, running_psa_simulator

__all__ = ["PsaSimConfig", "RunningPsaSimulator", "create_app", "running_psa_simulator"]
