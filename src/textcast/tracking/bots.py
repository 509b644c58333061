"""Telling people from machines in link requests.

Phones and chat apps fetch a link to draw its preview as soon as a message
arrives (Apple Messages identifies as ``facebookexternalhit/1.1 Facebot
Twitterbot/1.0`` from the handset's own address), shorteners and security
scanners follow links, and scripts announce themselves. A request is a bot's
when its user agent names one (lists compiled from monperrus/crawler-user-agents
and JayBizzle/Crawler-Detect), when it is a ``HEAD`` (browsers GET), or when it
comes within :data:`PREVIEW_SECONDS` of delivery, faster than anyone reads. A
scanner that sends an ordinary browser user agent later than that is not
caught: such clicks are counted, as every peer counts them.
"""

from __future__ import annotations

import re
from datetime import datetime

PREVIEW_SECONDS = 5.0
# Link-preview and chat-app fetchers, shorteners, crawlers, HTTP libraries.
AGENTS = re.compile(
    r"facebookexternalhit|facebot|meta-external|twitterbot|slackbot|slack-imgproxy|whatsapp"
    r"|telegrambot|skypeuripreview|discordbot|linkedinbot|viber|kakaotalk|line-poker"
    r"|snapurlpreview|snap url preview|redditbot|vkshare|pinterest|tumblr|mattermost|iframely"
    r"|embedly|link ?preview|web preview|microsoftpreview|bingpreview|bitlybot|googlebot"
    r"|google-inspectiontool|googleother|google-safety|adsbot|mediapartners|bingbot|adidxbot"
    r"|applebot|duckduckbot|yandex|baiduspider|petalbot|slurp|amazonbot|gptbot|claudebot"
    r"|ccbot|bytespider|ahrefsbot|semrushbot|lighthouse|headless|puppeteer|^curl|wget"
    r"|python-|go-http-client|okhttp|axios|node-fetch|^java/|libwww|barracuda|ms-office"
    r"|microsoft office|microsoft outlook|bot/|\bbot\b|crawl|spider|scan|fetcher",
    re.IGNORECASE,
)


def bot_reason(
    user_agent: str | None, method: str, at: datetime, delivered_at: datetime | None
) -> str | None:
    """Why this request is not a person's click, or None when it looks like one."""
    if method == "HEAD":
        return "head_request"
    if not user_agent or not user_agent.strip():
        return "no_user_agent"
    if AGENTS.search(user_agent):
        return "bot_user_agent"
    if delivered_at is not None and 0 <= (at - delivered_at).total_seconds() < PREVIEW_SECONDS:
        return "right_after_delivery"
    return None
