"""Where the platform keeps its state, and which areas it pulls from (areas.yaml)."""

import os
from dataclasses import dataclass
from pathlib import Path

import yaml


def ccs_home() -> Path:
    """All state lives under CCS_HOME (default ./.ccs): landing, quarantine, cursors, the warehouse."""
    return Path(os.environ.get("CCS_HOME", ".ccs")).resolve()


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class AreaConfig:
    key: str
    drop_folder: Path | None = None  # CSV areas: where export files land
    base_url: str | None = None  # API areas
    token_env: str | None = None  # the environment variable that holds the API token

    @property
    def transport(self) -> str:
        return "api" if self.base_url else "csv"

    def token(self) -> str:
        value = os.environ.get(self.token_env or "")
        if not value:
            raise ConfigError(f"area {self.key}: the API token variable {self.token_env} is not set")
        return value


def load_areas(path: Path | None = None) -> list[AreaConfig]:
    """Areas from areas.yaml (default $CCS_HOME/areas.yaml):

        areas:
          - key: norfolk
            drop_folder: /data/norfolk/exports
          - key: tower_hamlets
            api: {base_url: https://thcan.example/api, token_env: CCS_TOKEN_TOWER_HAMLETS}
    """
    path = Path(path) if path else ccs_home() / "areas.yaml"
    if not path.exists():
        raise ConfigError(f"{path} does not exist: run `ccs demo` or write one (see orchestration/config.py)")
    document = yaml.safe_load(path.read_text()) or {}
    areas = []
    for i, item in enumerate(document.get("areas") or []):
        where = f"{path}: areas[{i}]"
        if "key" not in item:
            raise ConfigError(f"{where}: 'key' is missing")
        api = item.get("api")
        if bool(api) == bool(item.get("drop_folder")):
            raise ConfigError(f"{where} ({item['key']}): give either 'api' or 'drop_folder'")
        if api and not {"base_url", "token_env"} <= set(api):
            raise ConfigError(f"{where} ({item['key']}): 'api' needs base_url and token_env")
        areas.append(AreaConfig(item["key"], Path(item["drop_folder"]) if item.get("drop_folder") else None,
                                api["base_url"] if api else None, api["token_env"] if api else None))
    if not areas:
        raise ConfigError(f"{path}: no areas configured")
    return areas


def write_areas(path: Path, areas: list[AreaConfig], grants: list[Path] = ()) -> None:
    """areas.yaml for these areas, and the folders of 360Giving files to import (its `grants:` section)."""
    items = []
    for a in areas:
        items.append({"key": a.key, "api": {"base_url": a.base_url, "token_env": a.token_env}} if a.base_url else
                     {"key": a.key, "drop_folder": str(a.drop_folder)})
    document = {"areas": items}
    if grants:
        document["grants"] = {"folders": [str(g) for g in grants]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
