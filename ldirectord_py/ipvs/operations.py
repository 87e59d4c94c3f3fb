"""The changes one can make to the kernel's ip_vs table, as values.

The reconciler plans a list of these and a backend carries them out; each one
describes itself in the words an operator's log should show ("add destination
10.0.0.1:80 to TCP 192.0.2.1:80").
"""

from __future__ import annotations

from dataclasses import dataclass

from ldirectord_py.ipvs.model import Destination, DestinationKey, ServiceKey, VirtualService


@dataclass(frozen=True)
class AddService:
    service: VirtualService  # its destinations are not added by this operation

    def __str__(self) -> str:
        return f"add service {self.service.key}"


@dataclass(frozen=True)
class EditService:
    service: VirtualService  # the settings the service gets

    def __str__(self) -> str:
        return f"edit service {self.service.key}"


@dataclass(frozen=True)
class DeleteService:
    key: ServiceKey  # the kernel deletes its destinations with it

    def __str__(self) -> str:
        return f"delete service {self.key}"


@dataclass(frozen=True)
class AddDestination:
    service: ServiceKey
    destination: Destination

    def __str__(self) -> str:
        return f"add destination {self.destination.key} to {self.service}"


@dataclass(frozen=True)
class EditDestination:
    service: ServiceKey
    destination: Destination  # the settings the destination gets

    def __str__(self) -> str:
        return f"edit destination {self.destination.key} of {self.service}"


@dataclass(frozen=True)
class DeleteDestination:
    service: ServiceKey
    destination: DestinationKey

    def __str__(self) -> str:
        return f"delete destination {self.destination} from {self.service}"


Operation = (
    AddService | EditService | DeleteService | AddDestination | EditDestination | DeleteDestination
)
