"""Typed application keys: the app's shared state, instead of module globals."""

from __future__ import annotations

from aiohttp import web

from scheduler.database import Database
from scheduler.store import Store

from .clock import Clock
from .config import Config

CONFIG = web.AppKey("config", Config)
CLOCK = web.AppKey("clock", Clock)
DATABASE = web.AppKey("database", Database)
STORE = web.AppKey("store", Store)
