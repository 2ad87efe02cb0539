"""Whether a region name is one of its provider's region codes, or only an area.

Price sources sometimes give broad areas ("US East / Europe West") instead of regions; such
offers are kept for pricing but flagged ``region_approximate`` and never become a launch
target. The check here is by the form of each provider's region codes (``us-east-1`` on AWS,
``us-east5`` on GCP, ``eastus2`` on Azure), as the providers' region lists and the SkyPilot
catalogs write them; an area id such as ``asia-northeast`` matches none of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_DIRECTIONS = r"(?:north|south|east|west|central|northeast|northwest|southeast|southwest)"

# Region code forms (AWS: docs.aws.amazon.com/global-infrastructure/latest/regions;
# GCP: cloud.google.com/compute/docs/regions-zones; Azure: `az account list-locations` names;
# Lambda, Nebius: their SkyPilot catalogs).
REGION_FORMS: Mapping[str, re.Pattern[str]] = {
    "aws": re.compile(rf"^[a-z]{{2}}(?:-gov|-iso[a-z]?)?-{_DIRECTIONS}-\d+$"),
    "lambda": re.compile(r"^[a-z]+-[a-z]+-\d+$"),
    "gcp": re.compile(rf"^[a-z]+-{_DIRECTIONS}\d+$"),
    "nebius": re.compile(rf"^[a-z]{{2}}-{_DIRECTIONS}\d+$"),
    "azure": re.compile(r"^[a-z]+[a-z0-9]*$"),
}


def is_region_code(provider: str, region: str) -> bool | None:
    """True if ``region`` has the form of ``provider``'s region codes, False if it does not
    (an area or another cloud's code), None when the provider's form is not known here."""
    form = REGION_FORMS.get(provider.lower())
    if form is None:
        return None
    return form.match(region) is not None
