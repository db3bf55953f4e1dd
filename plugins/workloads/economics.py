"""Money and energy: $ per device-hour, $ per million tokens, joules per token, training cost.

Power is the accelerators' rated board power (TDP) while they work: an upper bound on the
draw of the devices alone (hosts, networking and cooling are not included).
"""

from __future__ import annotations

from ridgeline.plugin import ScenarioError, formula, hookimpl


@formula
def price_usd_per_hour(system):
    """Price of one device-hour (the accelerator's registry price unless the system overrides it)."""
    price = system.device_price_usd_per_hour
    if price is None:
        raise ScenarioError(f"{system.accelerator.id} has no price; give one (--price USD_PER_H)")
    return price


@formula
def device_power_w(system):
    """Rated power of one device (TDP)."""
    power = system.accelerator.power_w
    if power is None:
        raise ScenarioError(f"{system.accelerator.id} has no published power figure")
    return power


@formula(workload="inference")
def deployment_usd_per_hour(price_usd_per_hour, replica_devices):
    """Cost of one model replica per hour."""
    return price_usd_per_hour * replica_devices


@formula(workload="inference")
def cost_per_mtok_usd(deployment_usd_per_hour, throughput_tokens_per_s):
    """Dollars per million generated tokens at this throughput, the replica busy all the time."""
    return deployment_usd_per_hour / 3600.0 / throughput_tokens_per_s * 1e6


@formula(workload="inference")
def energy_per_token_j(device_power_w, replica_devices, throughput_tokens_per_s):
    """Joules per generated token at rated power."""
    return device_power_w * replica_devices / throughput_tokens_per_s


@formula(workload="training", unit="", domain="nonnegative")
def device_hours(wall_clock_s, training_devices):
    """Device-hours the whole run takes."""
    return wall_clock_s * training_devices / 3600.0


@formula(workload="training")
def cost_usd(device_hours, price_usd_per_hour):
    """Cost of the run at the device-hour price."""
    return device_hours * price_usd_per_hour


@formula(workload="training")
def energy_j(device_power_w, training_devices, wall_clock_s):
    """Energy of the run at rated power."""
    return device_power_w * training_devices * wall_clock_s


FORMULAS = (price_usd_per_hour, device_power_w, deployment_usd_per_hour, cost_per_mtok_usd,
            energy_per_token_j, device_hours, cost_usd, energy_j)


@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS:
        register(f)
