"""A deterministic, realistic CRM export for demos, tests and benchmarks.

Customers and ``days`` of communications ending the day before ``run_date``, over several
channels and both directions, English and Chinese, with weekly seasonality, agent replies
to most inbound messages, a CRM disposition label on part of the inbound ones, customers'
e-mail addresses and phone numbers inside a few messages (for the warehouse to redact) and a few
dirty rows (duplicates, missing fields, bad timestamps, a malformed line). Generation is
vectorised, so a million communications take seconds. `crm-followups sample` writes one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crm_followups.sample import phrases as txt

CHANNELS = np.array(["email", "phone", "chat", "sms", "social", "meeting", "web"])
CHANNEL_WEIGHTS = np.array([0.38, 0.2, 0.2, 0.06, 0.05, 0.05, 0.06])
INTENT_WEIGHTS = np.array([0.2, 0.12, 0.14, 0.3, 0.06, 0.18])
WEEKDAY_WEIGHTS = np.array([1.25, 1.2, 1.15, 1.1, 1.0, 0.35, 0.25])  # Monday first
SEGMENTS = np.array(["consumer", "smb", "mid_market", "enterprise"])
SEGMENT_VALUE = {"consumer": 800, "smb": 6_000, "mid_market": 40_000, "enterprise": 250_000}
COUNTRIES = {"en": np.array(["US", "GB", "DE", "SG"]), "zh": np.array(["CN", "TW", "HK"])}
UTC_OFFSETS = {"US": -5, "GB": 0, "DE": 1, "SG": 8, "CN": 8, "TW": 8, "HK": 8}
OFFSET_SUFFIXES = {c: f"{'+' if h >= 0 else '-'}{abs(h):02d}:00" for c, h in UTC_OFFSETS.items()}


@dataclass(frozen=True)
class SampleExport:
    customers: Path
    communications: Path
    rows: int


def _pick(rng: np.random.Generator, options: list[str], n: int) -> np.ndarray:
    return np.asarray(options, dtype=object)[rng.integers(0, len(options), n)]


def _per_language(rng: np.random.Generator, lang: np.ndarray, bank: dict[str, list[str]]) -> np.ndarray:
    """One random phrase per row, from the row's language's phrase list."""
    out = np.empty(len(lang), dtype=object)
    for code, options in bank.items():
        mask = lang == code
        out[mask] = _pick(rng, options, int(mask.sum()))
    return out


def generate_customers(rng: np.random.Generator, n: int, start: dt.date) -> pd.DataFrame:
    lang = np.where(rng.random(n) < 0.35, "zh", "en")
    ids = pd.Series(np.arange(1, n + 1)).map("C{:06d}".format)
    first = _per_language(rng, lang, txt.FIRST_NAMES)
    last = _per_language(rng, lang, txt.LAST_NAMES)
    name = np.where(lang == "zh", last + first, first + " " + last)
    company = _per_language(rng, lang, txt.COMPANY_WORDS) + _per_language(rng, lang, txt.COMPANY_SUFFIX)
    country = np.where(lang == "zh", rng.choice(COUNTRIES["zh"], n), rng.choice(COUNTRIES["en"], n))
    segment = rng.choice(SEGMENTS, n, p=[0.3, 0.4, 0.2, 0.1])
    base_value = pd.Series(segment).map(SEGMENT_VALUE).to_numpy(dtype=float)
    created = pd.Timestamp(start) - pd.to_timedelta(rng.integers(30, 900, n), unit="D")
    updated = created + pd.to_timedelta(rng.integers(0, 30, n), unit="D")
    return pd.DataFrame({
        "customer_id": ids,
        "name": name,
        "email": ids.str.lower() + "@example.com",
        "phone": pd.Series(rng.integers(10_000_000, 99_999_999, n)).map("+1-555-{:08d}".format),
        "company": company,
        "segment": segment,
        "country": country,
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "updated_at": updated.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "owner_id": pd.Series(rng.integers(1, 13, n)).map("U{:03d}".format),
        "annual_value": np.round(base_value * rng.lognormal(0, 0.6, n), 2),
        "do_not_contact": rng.random(n) < 0.02,
        "email_opt_out": rng.random(n) < 0.06,
    }), lang


def _occurrence_times(rng: np.random.Generator, n: int, start: dt.date, days: int) -> pd.DatetimeIndex:
    """Times with a weekly rhythm (busy Mondays, quiet weekends) and office hours."""
    dates = pd.date_range(start, periods=days, freq="D")
    weights = WEEKDAY_WEIGHTS[dates.day_of_week] * np.linspace(0.9, 1.1, days)  # slow growth
    day = rng.choice(days, n, p=weights / weights.sum())
    seconds = np.clip(rng.normal(13.5, 3.0, n), 0, 23.99) * 3600
    return dates[day] + pd.to_timedelta(seconds.astype(int), unit="s")


def generate_communications(rng: np.random.Generator, customers: pd.DataFrame, lang: np.ndarray,
                            start: dt.date, days: int, per_customer_day: float) -> pd.DataFrame:
    n_customers = len(customers)
    activity = rng.gamma(1.5, 1 / 1.5, n_customers)  # some customers talk far more than others
    n_in = int(n_customers * days * per_customer_day * 0.6)
    who = rng.choice(n_customers, n_in, p=activity / activity.sum())
    row_lang = lang[who]
    intent = rng.choice(np.array(txt.INTENTS), n_in, p=INTENT_WEIGHTS)
    before = np.empty(n_in, dtype=object)
    after = np.empty(n_in, dtype=object)
    subject = np.empty(n_in, dtype=object)
    for code in ("en", "zh"):
        for name in txt.INTENTS:
            mask = (row_lang == code) & (intent == name)
            k = int(mask.sum())
            pairs = txt.CORES[code][name]
            pick = rng.integers(0, len(pairs), k)
            before[mask] = np.asarray([p[0] for p in pairs], dtype=object)[pick]
            after[mask] = np.asarray([p[1] for p in pairs], dtype=object)[pick]
            subject[mask] = _pick(rng, txt.SUBJECTS[code][name], k)
    body = (_per_language(rng, row_lang, txt.OPENERS) + before
            + _per_language(rng, row_lang, txt.PRODUCTS) + after
            + _per_language(rng, row_lang, txt.CLOSERS))
    channel = rng.choice(CHANNELS, n_in, p=CHANNEL_WEIGHTS)
    inbound = pd.DataFrame({
        "customer_idx": who, "channel": channel, "direction": "inbound",
        "occurred_at": _occurrence_times(rng, n_in, start, days),
        "subject": subject, "body": body,
        "agent_id": "",
        "label": np.where(rng.random(n_in) < 0.45, _noisy(rng, intent), ""),
    })
    return pd.concat([inbound, _replies(rng, inbound, lang), _notes(rng, lang, n_in // 8, start, days)],
                     ignore_index=True)


def _noisy(rng: np.random.Generator, intent: np.ndarray, share: float = 0.08) -> np.ndarray:
    """Agents pick the wrong disposition now and then: a share of labels is random."""
    wrong = rng.random(len(intent)) < share
    return np.where(wrong, rng.choice(np.array(txt.INTENTS), len(intent)), intent)


def _replies(rng: np.random.Generator, inbound: pd.DataFrame, lang: np.ndarray) -> pd.DataFrame:
    """Agents answer about three in four inbound messages, most within a working day."""
    answered = inbound[rng.random(len(inbound)) < 0.75]
    n = len(answered)
    delay = pd.to_timedelta(rng.exponential(5 * 3600, n).astype(int) + 300, unit="s")
    reply_lang = lang[answered["customer_idx"].to_numpy()]
    return pd.DataFrame({
        "customer_idx": answered["customer_idx"].to_numpy(),
        "channel": answered["channel"].to_numpy(), "direction": "outbound",
        "occurred_at": answered["occurred_at"].to_numpy() + delay.to_numpy(),
        "subject": np.where(reply_lang == "zh", "回复：", "Re: ") + answered["subject"].to_numpy(),
        "body": _per_language(rng, reply_lang, txt.OUTBOUND),
        "agent_id": pd.Series(rng.integers(1, 13, n)).map("U{:03d}".format).to_numpy(),
        "label": "",
    })


def _notes(rng: np.random.Generator, lang: np.ndarray, n: int, start: dt.date, days: int) -> pd.DataFrame:
    who = rng.integers(0, len(lang), n)
    return pd.DataFrame({
        "customer_idx": who, "channel": "note", "direction": "internal",
        "occurred_at": _occurrence_times(rng, n, start, days),
        "subject": "", "body": _per_language(rng, lang[who], txt.NOTES),
        "agent_id": pd.Series(rng.integers(1, 13, n)).map("U{:03d}".format).to_numpy(),
        "label": "",
    })


def _format_times(occurred: pd.Series, country: pd.Series) -> pd.Series:
    """ISO 8601 as CRMs write it: local time with offset for some, UTC with or without 'Z'."""
    offset_hours = country.map(UTC_OFFSETS).to_numpy()
    local = occurred + pd.to_timedelta(offset_hours, unit="h")
    with_offset = local.dt.strftime("%Y-%m-%dT%H:%M:%S") + country.map(OFFSET_SUFFIXES)
    style = np.arange(len(occurred)) % 3
    return pd.Series(np.select(
        [style == 0, style == 1],
        [with_offset, occurred.dt.strftime("%Y-%m-%dT%H:%M:%SZ")],
        occurred.dt.strftime("%Y-%m-%d %H:%M:%S"),
    ), index=occurred.index)


def _leave_contact_details(rng: np.random.Generator, comms: pd.DataFrame, cust: pd.DataFrame) -> None:
    """Customers write their e-mail or phone into a few messages: the warehouse must redact them."""
    chosen = (comms["direction"] == "inbound").to_numpy() & (rng.random(len(comms)) < 0.05)
    who = comms.loc[chosen, "customer_id"].str[1:].astype(int).to_numpy() - 1
    phone, email = cust["phone"].to_numpy()[who], cust["email"].to_numpy()[who]
    contact = np.where(rng.random(len(who)) < 0.5, phone, email)
    chinese = np.isin(cust["country"].to_numpy()[who], COUNTRIES["zh"])
    sentence = np.where(chinese, "我的联系方式：" + contact.astype(object) + "。",
                        " You can reach me at " + contact.astype(object) + ".")
    comms.loc[chosen, "body"] = comms.loc[chosen, "body"].to_numpy() + sentence


def _dirty(rng: np.random.Generator, comms: pd.DataFrame) -> pd.DataFrame:
    """Real exports are never clean: duplicate deliveries, missing keys, unparseable dates."""
    n = len(comms)
    k = max(1, n // 200)
    dupes = comms.iloc[rng.choice(n, k, replace=False)]
    broken = comms.iloc[rng.choice(n, 3 * k, replace=False)].copy()
    third = len(broken) // 3
    broken.iloc[:third, broken.columns.get_loc("occurred_at")] = "31/02/2024 25:61"
    broken.iloc[third:2 * third, broken.columns.get_loc("customer_id")] = ""
    broken.iloc[2 * third:, broken.columns.get_loc("communication_id")] = ""
    broken["communication_id"] = broken["communication_id"].where(
        broken["communication_id"] == "", broken["communication_id"] + "-X")
    return pd.concat([comms, dupes, broken], ignore_index=True)


def generate(run_date: dt.date, customers: int = 200, days: int = 90, seed: int = 7,
             per_customer_day: float = 0.12) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The customers and communications frames of one export, ending the day before run_date."""
    rng = np.random.default_rng(seed)
    start = run_date - dt.timedelta(days=days)
    cust, lang = generate_customers(rng, customers, start)
    comms = generate_communications(rng, cust, lang, start, days, per_customer_day)
    comms = comms[comms["occurred_at"] < pd.Timestamp(run_date)]
    comms = comms.sort_values("occurred_at", kind="stable").reset_index(drop=True)
    comms.insert(0, "communication_id", pd.Series(np.arange(1, len(comms) + 1)).map("M{:08d}".format))
    comms.insert(1, "customer_id", cust["customer_id"].to_numpy()[comms.pop("customer_idx").to_numpy()])
    # its own stream, so the rest of the sample stays as it was before contact details were added
    _leave_contact_details(np.random.default_rng([seed, 1]), comms, cust)
    country = cust["country"].to_numpy()[comms["customer_id"].str[1:].astype(int).to_numpy() - 1]
    comms["occurred_at"] = _format_times(comms["occurred_at"], pd.Series(country, index=comms.index))
    return cust, _dirty(rng, comms)


def write_export(folder: Path, run_date: dt.date, customers: int = 200, days: int = 90,
                 seed: int = 7) -> SampleExport:
    """Write ``customers_<date>.csv`` and ``communications_<date>.csv`` into ``folder``."""
    cust, comms = generate(run_date, customers, days, seed)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = (run_date - dt.timedelta(days=1)).isoformat()
    customers_path = folder / f"customers_{stamp}.csv"
    comms_path = folder / f"communications_{stamp}.csv"
    cust.to_csv(customers_path, index=False)
    comms.to_csv(comms_path, index=False)
    with comms_path.open("a", encoding="utf-8") as f:  # one line a CSV parser must reject
        f.write("M-BROKEN,C000001,email,inbound\n")
    return SampleExport(customers_path, comms_path, len(comms) + 1)

