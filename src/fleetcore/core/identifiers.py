"""Vehicle identifiers: VINs (ISO 3779) and licence plates, normalised and checked per country.

VIN check digit (position 9)
    ISO 3779 defines the 17-character VIN but *not* a check digit: position 9 is part of the
    manufacturer's descriptor section and European/Japanese makers put whatever they like there.
    The check digit (weights 8-7-6-5-4-3-2-10-0-9-8-7-6-5-4-3-2, transliteration A=1…Z=9,
    remainder 10 written ``X``) is mandated by the US (49 CFR 565 / FMVSS 115) and Canada (CMVSS
    115) only. So :func:`validate_vin` enforces it where it is the law — a vehicle registered in
    the US or Canada — and for any VIN whose World Manufacturer Identifier says it was built for
    North America (first character ``1``-``5``), since such a VIN always carries one. Elsewhere a
    wrong check digit is normal and the VIN is only checked for shape (17 characters from the
    VIN alphabet, which excludes ``I``, ``O`` and ``Q``; the same rule as the database CHECK).

Licence plates
    :func:`normalise_plate` upper-cases, trims and puts separators where the country writes them,
    so that ``"ab123cd"`` and ``"AB-123-CD"`` are the same live plate (the uniqueness index compares
    the stored string). Strict formats where they are well defined:

    * FR — SIV (since 2009): ``AA-123-AA``; letters without ``I``, ``O``, ``U``; number 001-999;
      ``SS`` is never issued in either block. The pre-2009 FNI format (``123 ABC 75``) is
      refused: every vehicle still on the road with one is far beyond any VTC age limit.
    * GB — current (2001-) ``AB12 CDE``; prefix ``A123 BCD``; suffix ``ABC 123D``; dateless
      ``ABC 1234`` / ``1234 ABC`` (also Northern Ireland ``ABC 1234``).

    Other countries are lenient: 2 to 15 characters, letters (any script), digits, single spaces
    and hyphens, upper-cased.
"""

from __future__ import annotations

import re

__all__ = [
    "VIN_CHECK_DIGIT_COUNTRIES",
    "InvalidIdentifier",
    "is_valid_plate",
    "is_valid_vin",
    "normalise_plate",
    "normalise_vin",
    "validate_vin",
    "vin_check_digit",
    "vin_check_digit_required",
]


class InvalidIdentifier(ValueError):  # noqa: N818 - reads as the condition
    """A VIN or plate that cannot be right; the message says why, for an API error."""


# --- VIN (ISO 3779) --------------------------------------------------------------------------

VIN_CHECK_DIGIT_COUNTRIES = frozenset({"US", "CA"})
"""Countries whose law requires the position-9 check digit (FMVSS 115, CMVSS 115)."""

_VIN_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_VIN_SHAPE = re.compile(r"[A-HJ-NPR-Z0-9]{17}")
_NORTH_AMERICAN_WMI = frozenset("12345")


def vin_check_digit(vin: str) -> str:
    """The ISO 3779 / FMVSS 115 check digit (position 9) of a 17-character VIN."""
    if len(vin) != 17 or any(c not in _VIN_VALUES for c in vin):
        raise ValueError(f"not a 17-character VIN: {vin!r}")
    remainder = sum(_VIN_VALUES[c] * w for c, w in zip(vin, _VIN_WEIGHTS, strict=True)) % 11
    return "X" if remainder == 10 else str(remainder)


def is_valid_vin(vin: str) -> bool:
    """True when ``vin`` has 17 allowed characters and a correct check digit."""
    try:
        return vin[8] == vin_check_digit(vin)
    except ValueError:
        return False


def normalise_vin(vin: str) -> str:
    """``vin`` upper-cased without spaces or hyphens (how VINs are printed and typed)."""
    return re.sub(r"[\s-]+", "", vin).upper()


def vin_check_digit_required(vin: str, country: str | None) -> bool:
    """True when the check digit is mandatory: registered in US/CA or built for North America."""
    return (country or "").upper() in VIN_CHECK_DIGIT_COUNTRIES or (
        bool(vin) and vin[0] in _NORTH_AMERICAN_WMI
    )


def validate_vin(vin: str, *, country: str | None = None) -> str:
    """The normalised VIN, or :class:`InvalidIdentifier` saying what is wrong with it."""
    value = normalise_vin(vin)
    if len(value) != 17:
        raise InvalidIdentifier(f"a VIN has 17 characters, not {len(value)}")
    if not _VIN_SHAPE.fullmatch(value):
        raise InvalidIdentifier("a VIN uses digits and letters other than I, O and Q")
    if vin_check_digit_required(value, country) and not is_valid_vin(value):
        raise InvalidIdentifier(
            f"the check digit (9th character) should be {vin_check_digit(value)!r}"
        )
    return value


# --- licence plates --------------------------------------------------------------------------

_SIV_LETTER = "[A-HJ-NP-TV-Z]"  # no I, O, U
_FR_SIV = re.compile(rf"({_SIV_LETTER}{{2}})-?([0-9]{{3}})-?({_SIV_LETTER}{{2}})")
_GB_FORMATS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"([A-Z]{2}[0-9]{2})([A-Z]{3})"), r"\1 \2"),  # current: AB12 CDE
    (re.compile(r"([A-Z][0-9]{1,3})([A-Z]{3})"), r"\1 \2"),  # prefix: A123 BCD
    (re.compile(r"([A-Z]{3})([0-9]{1,3}[A-Z])"), r"\1 \2"),  # suffix: ABC 123D
    (re.compile(r"([A-Z]{1,3})([0-9]{1,4})"), r"\1 \2"),  # dateless / NI: ABC 1234
    (re.compile(r"([0-9]{1,4})([A-Z]{1,3})"), r"\1 \2"),  # dateless reversed: 1234 AB
)
_LENIENT = re.compile(r"[^\W_](?:[^\W_]|[ -](?=[^\W_]))*")


def _fr(compact: str) -> str:
    match = _FR_SIV.fullmatch(compact)
    if not match:
        raise InvalidIdentifier("a French plate reads AA-123-AA (SIV), letters other than I, O, U")
    left, number, right = match.groups()
    if number == "000":
        raise InvalidIdentifier("a French plate number runs from 001 to 999")
    if "SS" in (left, right):
        raise InvalidIdentifier("'SS' is never issued on French plates")
    return f"{left}-{number}-{right}"


def _gb(compact: str) -> str:
    for pattern, template in _GB_FORMATS:
        if pattern.fullmatch(compact):
            return pattern.sub(template, compact)
    raise InvalidIdentifier("a British plate reads AB12 CDE (or an older prefix/suffix format)")


def normalise_plate(plate: str, country: str | None) -> str:
    """``plate`` in its country's canonical spelling, or :class:`InvalidIdentifier`."""
    value = re.sub(r"\s+", " ", plate.strip()).upper()
    code = (country or "").upper()
    if code == "FR":
        return _fr(re.sub(r"[\s-]+", "", value))
    if code == "GB":
        return _gb(re.sub(r"[\s-]+", "", value))
    if not 2 <= len(value) <= 15 or not _LENIENT.fullmatch(value):
        raise InvalidIdentifier(
            "a plate has 2 to 15 letters and digits, with single spaces or hyphens between"
        )
    return value


def is_valid_plate(plate: str, country: str | None) -> bool:
    """True when :func:`normalise_plate` accepts ``plate`` for ``country``."""
    try:
        normalise_plate(plate, country)
    except InvalidIdentifier:
        return False
    return True
