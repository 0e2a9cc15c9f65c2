"""Storage account connection strings, including the `UseDevelopmentStorage=true` shortcut."""

from __future__ import annotations

DEV_ACCOUNT_NAME = "devstoreaccount1"
DEV_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DEV_HOST = "http://127.0.0.1"
DEV_PORTS = {"Blob": 10000, "Queue": 10001, "Table": 10002}


class ConnectionStringError(ValueError):
    pass


def parse_connection_string(text: str) -> dict[str, str]:
    """`Key=Value;...` pairs; keys compare case-insensitively, values keep their '=' (base64 keys)."""
    pairs: dict[str, str] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ConnectionStringError(
                f"The storage connection string has a part without '=' ({key!r}); expected Key=Value pairs "
                "such as AccountName=...;AccountKey=... or UseDevelopmentStorage=true."
            )
        pairs[key.strip().lower()] = value.strip()
    return pairs


def development_connection_string(host: str = DEV_HOST) -> str:
    endpoints = "".join(
        f"{service}Endpoint={host}:{port}/{DEV_ACCOUNT_NAME};" for service, port in DEV_PORTS.items()
    )
    return (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT_NAME};AccountKey={DEV_ACCOUNT_KEY};"
        + endpoints
    )


def normalize_connection_string(text: str) -> str:
    """A connection string the Azure SDK clients accept: the emulator shortcut becomes its full form."""
    pairs = parse_connection_string(text)
    if pairs.get("usedevelopmentstorage", "").lower() == "true":
        proxy = pairs.get("developmentstorageproxyuri")
        return development_connection_string(proxy.rstrip("/") if proxy else DEV_HOST)
    if not any(k in pairs for k in ("accountname", "blobendpoint", "queueendpoint", "tableendpoint")):
        raise ConnectionStringError(
            "The storage connection string names no account: give AccountName and AccountKey (or "
            "service endpoints), or use UseDevelopmentStorage=true for Azurite."
        )
    return text
