"""Describers that name an audited resource by what it is ("检查 2026-11-02 CT 胸部平扫").

`server/` never imports an app, so an app whose rows are audited registers a describer for its
resource type when it starts (its AppConfig.ready); the audit pages ask here.
"""

from collections.abc import Callable, Collection

# From the resource ids of one type (as the trail stores them, text) to their description;
# ids it does not know are left out.
Describer = Callable[[Collection[str]], dict[str, str]]

_describers: dict[str, Describer] = {}


def resource_describer_register(resource_type: str, describer: Describer) -> None:
    """Name the resources of `resource_type` with `describer` on the audit pages."""
    _describers[resource_type] = describer


def resources_describe(resource_type: str, resource_ids: Collection[str]) -> dict[str, str]:
    """The descriptions of these resources that a registered describer gives, by id."""
    describer = _describers.get(resource_type)
    if describer is None or not resource_ids:
        return {}
    return describer(resource_ids)
