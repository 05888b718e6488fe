"""Sensor models and the scenario simulator that turns launches into contract reports.

* :mod:`kizuna.sensors.scenario`: scenario YAML, validated (``load_scenario``), shipped
  scenarios (``shipped_scenarios``, ``describe_shipped``) and the default laydown
  (``data/laydown.yaml``, sites from ``shared/data/sensors.csv``).
* :mod:`kizuna.sensors.truth`: designed flights (cached on disk) as true objects.
* :mod:`kizuna.sensors.radar`, :mod:`~kizuna.sensors.infrared`,
  :mod:`~kizuna.sensors.national`: the three kinds of sensor.
* :mod:`kizuna.sensors.simulate`: ``simulate(scenario) -> Simulation`` and the report and
  truth file writers (the truth format is documented there).
* ``report.schema.json``: the JSON schema of a report, generated from :mod:`kizuna.contract`
  (regenerate with ``python -m kizuna.sensors.schema``).
"""

from kizuna.sensors.scenario import Scenario, load_scenario, shipped_scenarios
from kizuna.sensors.simulate import Simulation, simulate, write_reports, write_truth

__all__ = [
    "Scenario",
    "Simulation",
    "load_scenario",
    "shipped_scenarios",
    "simulate",
    "write_reports",
    "write_truth",
]
