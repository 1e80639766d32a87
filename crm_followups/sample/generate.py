"""A deterministic, realistic CRM export for demos, tests and benchmarks.

Customers and ``days`` of communications ending the day before ``run_date``, over several
channels and both directions, English and Chinese, with weekly seasonality, agent replies
to most inbound messages, a CRM disposition label on part of the inbound ones, customers'
e-mail addresses and phone numbers inside a few messages (for the warehouse to redact) and a few
dirty rows (duplicates, missing fields, bad timestamps, a malformed line). Generation is
vectorised, so a million communications take seconds. `crm-followups sample` writes one.

A few customers change how often they write, so the engagement test has something to find:
decliners, engaged accounts whose contacts fall to a fraction of their rate a few weeks before
the end (their later messages lean to complaints and cancellations, and their last few are
complaints or a cancellation: why they are leaving), and spikers, whose contacts
burst in the last days (an incident). Which customers, and how, is kept as ground truth
(:data:`PLANTED_FILE`, in a subfolder the extract step does not read).
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

# Planted engagement changes (shares of all customers) and what they look like.
DECLINING_SHARE = 0.03
SPIKE_SHARE = 0.02
DECLINER_DAILY_RATE = (0.3, 0.8)       # inbound contacts a day before the decline: an engaged account
DECLINE_KEEPS = (0.0, 0.25)            # ...and the share of that rate left after it
DECLINE_STARTS_DAYS_AGO = (28, 43)     # the decline began four to six weeks before the end
SPIKE_CONTACTS = (6, 13)               # a burst of this many inbound contacts...
SPIKE_DAYS = (1, 5)                    # ...over the last few days
# pricing, purchase, complaint, support, cancellation, other: fading customers complain and cancel,
# a burst is mostly support and complaints
FADING_INTENT_WEIGHTS = np.array([0.04, 0.02, 0.3, 0.2, 0.34, 0.1])
BURST_INTENT_WEIGHTS = np.array([0.02, 0.01, 0.3, 0.6, 0.02, 0.05])
# ...and a decliner's last few messages say why it left: complaints, now and then a cancellation
LAST_WORDS = 3
LAST_WORDS_INTENT_WEIGHTS = np.array([0.0, 0.0, 0.8, 0.0, 0.2, 0.0])
MIN_DAYS_TO_PLANT = 60                 # shorter exports have too little history for a change
# the ground truth beside the export, in a subfolder: extract reads only files directly in a
# source's folder, so it never takes this for an export
PLANTED_FILE = Path("ground_truth") / "planted_engagement.csv"


@dataclass(frozen=True)
class SampleExport:
    customers: Path
    communications: Path
    rows: int
    planted: Path


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
    intent = rng.choice(np.array(txt.INTENTS), n_in, p=INTENT_WEIGHTS)
    subject, body = _texts(rng, lang[who], intent)
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


def _texts(rng: np.random.Generator, row_lang: np.ndarray,
           intent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Subject and body of inbound messages in their language, saying their intent."""
    n = len(intent)
    before, after, subject = (np.empty(n, dtype=object) for _ in range(3))
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
    return subject, body


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


def _planted_customers(rng: np.random.Generator, n_customers: int,
                       days: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of decliners and spikers, disjoint; none when the export is too short for a change
    to show against a customer's own history."""
    if days < MIN_DAYS_TO_PLANT:
        return np.empty(0, dtype=int), np.empty(0, dtype=int)
    n_declining, n_spike = round(DECLINING_SHARE * n_customers), round(SPIKE_SHARE * n_customers)
    chosen = rng.choice(n_customers, n_declining + n_spike, replace=False)
    return chosen[:n_declining], chosen[n_declining:]


def _daily_draws(rng: np.random.Generator, rate: np.ndarray,
                 start: dt.date) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """Poisson counts of a (customer x day) rate matrix as one row per contact: the customer's
    row in ``rate`` and a time in office hours on its day."""
    counts = rng.poisson(rate)
    row, day = np.nonzero(counts)
    row, day = np.repeat(row, counts[row, day]), np.repeat(day, counts[row, day])
    seconds = np.clip(rng.normal(13.5, 3.0, len(day)), 0, 23.99) * 3600
    when = (pd.Timestamp(start) + pd.to_timedelta(day, unit="D")
            + pd.to_timedelta(seconds.astype(int), unit="s"))
    return row, pd.DatetimeIndex(when)


def _declining_rates(rng: np.random.Generator, n: int, start: dt.date,
                     days: int) -> tuple[np.ndarray, np.ndarray]:
    """Daily rates of ``n`` decliners (weekly rhythm, an engaged rate, then a fraction of it) and
    the day index each decline began."""
    weekday = WEEKDAY_WEIGHTS[pd.date_range(start, periods=days, freq="D").day_of_week]
    before = rng.uniform(*DECLINER_DAILY_RATE, n)[:, None] * weekday / WEEKDAY_WEIGHTS.mean()
    began = days - rng.integers(*DECLINE_STARTS_DAYS_AGO, n)
    after = np.arange(days)[None, :] >= began[:, None]
    return np.where(after, before * rng.uniform(*DECLINE_KEEPS, n)[:, None], before), began


def _spike_rates(rng: np.random.Generator, n: int, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Daily extra rates of ``n`` spikers (a burst over their last few days) and the day it began."""
    burst_days = rng.integers(*SPIKE_DAYS, n)
    began = days - burst_days
    in_burst = np.arange(days)[None, :] >= began[:, None]
    return np.where(in_burst, (rng.integers(*SPIKE_CONTACTS, n) / burst_days)[:, None], 0.0), began


def _latest_per_customer(row: np.ndarray, when: pd.DatetimeIndex, n: int) -> np.ndarray:
    """Which contacts are among their customer's ``n`` latest: a decliner's last words."""
    latest_first = pd.Series(when).groupby(row).rank(method="first", ascending=False)
    return (latest_first <= n).to_numpy()


def _inbound_of(rng: np.random.Generator, who: np.ndarray, when: pd.DatetimeIndex, lang: np.ndarray,
                intent_weights: np.ndarray) -> pd.DataFrame:
    """Inbound messages of customers ``who`` at ``when``, intents drawn from ``intent_weights``."""
    intent = rng.choice(np.array(txt.INTENTS), len(who), p=intent_weights)
    subject, body = _texts(rng, lang[who], intent)
    return pd.DataFrame({
        "customer_idx": who, "channel": rng.choice(CHANNELS, len(who), p=CHANNEL_WEIGHTS),
        "direction": "inbound", "occurred_at": when, "subject": subject, "body": body, "agent_id": "",
        "label": np.where(rng.random(len(who)) < 0.45, _noisy(rng, intent), ""),
    })


def _plant_engagement(rng: np.random.Generator, comms: pd.DataFrame, lang: np.ndarray, start: dt.date,
                      days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Communications with decliners' messages replaced by a falling stream and spikers' burst
    added (replies as usual), and the ground truth: customer index, signal, day it changed."""
    declining, spiking = _planted_customers(rng, len(lang), days)
    rate, decline_began = _declining_rates(rng, len(declining), start, days)
    row, when = _daily_draws(rng, rate, start)
    fading = (when >= pd.Timestamp(start) + pd.to_timedelta(decline_began[row], unit="D"))
    last = _latest_per_customer(row, when, LAST_WORDS)
    inbound = [_inbound_of(rng, declining[row[~fading & ~last]], when[~fading & ~last], lang, INTENT_WEIGHTS),
               _inbound_of(rng, declining[row[fading & ~last]], when[fading & ~last], lang,
                           FADING_INTENT_WEIGHTS),
               _inbound_of(rng, declining[row[last]], when[last], lang, LAST_WORDS_INTENT_WEIGHTS)]
    rate, spike_began = _spike_rates(rng, len(spiking), days)
    row, when = _daily_draws(rng, rate, start)
    inbound.append(_inbound_of(rng, spiking[row], when, lang, BURST_INTENT_WEIGHTS))
    planted = pd.concat(inbound, ignore_index=True)
    kept = comms[~(comms["customer_idx"].isin(declining) & (comms["direction"] != "internal"))]
    truth = pd.DataFrame({
        "customer_idx": np.concatenate([declining, spiking]),
        "signal": ["declining"] * len(declining) + ["spike"] * len(spiking),
        "changed_on": pd.Timestamp(start) + pd.to_timedelta(np.concatenate([decline_began, spike_began]),
                                                            unit="D"),
    })
    return pd.concat([kept, planted, _replies(rng, planted, lang)], ignore_index=True), truth


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
    cust, comms, _ = generate_with_truth(run_date, customers, days, seed, per_customer_day)
    return cust, comms


def generate_with_truth(run_date: dt.date, customers: int = 200, days: int = 90, seed: int = 7,
                        per_customer_day: float = 0.12) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """:func:`generate` and the planted engagement changes (customer_id, signal, changed_on)."""
    rng = np.random.default_rng(seed)
    start = run_date - dt.timedelta(days=days)
    cust, lang = generate_customers(rng, customers, start)
    comms = generate_communications(rng, cust, lang, start, days, per_customer_day)
    # its own stream, so the rest of the sample stays as it was before changes were planted
    comms, planted = _plant_engagement(np.random.default_rng([seed, 2]), comms, lang, start, days)
    comms = comms[comms["occurred_at"] < pd.Timestamp(run_date)]
    comms = comms.sort_values("occurred_at", kind="stable").reset_index(drop=True)
    comms.insert(0, "communication_id", pd.Series(np.arange(1, len(comms) + 1)).map("M{:08d}".format))
    comms.insert(1, "customer_id", cust["customer_id"].to_numpy()[comms.pop("customer_idx").to_numpy()])
    # its own stream, so the rest of the sample stays as it was before contact details were added
    _leave_contact_details(np.random.default_rng([seed, 1]), comms, cust)
    country = cust["country"].to_numpy()[comms["customer_id"].str[1:].astype(int).to_numpy() - 1]
    comms["occurred_at"] = _format_times(comms["occurred_at"], pd.Series(country, index=comms.index))
    truth = pd.DataFrame({"customer_id": cust["customer_id"].to_numpy()[planted["customer_idx"].to_numpy()],
                          "signal": planted["signal"], "changed_on": planted["changed_on"].dt.date})
    return cust, _dirty(rng, comms), truth


def write_export(folder: Path, run_date: dt.date, customers: int = 200, days: int = 90,
                 seed: int = 7) -> SampleExport:
    """Write ``customers_<date>.csv`` and ``communications_<date>.csv`` into ``folder``, and the
    planted engagement changes into ``folder / PLANTED_FILE``."""
    cust, comms, planted = generate_with_truth(run_date, customers, days, seed)
    (folder / PLANTED_FILE).parent.mkdir(parents=True, exist_ok=True)
    planted.to_csv(folder / PLANTED_FILE, index=False)
    stamp = (run_date - dt.timedelta(days=1)).isoformat()
    customers_path = folder / f"customers_{stamp}.csv"
    comms_path = folder / f"communications_{stamp}.csv"
    cust.to_csv(customers_path, index=False)
    comms.to_csv(comms_path, index=False)
    with comms_path.open("a", encoding="utf-8") as f:  # one line a CSV parser must reject
        f.write("M-BROKEN,C000001,email,inbound\n")
    return SampleExport(customers_path, comms_path, len(comms) + 1, folder / PLANTED_FILE)



# communications per customer and day the default rate gives (inbound, replies and notes)
ROWS_PER_CUSTOMER_DAY = 0.1376


def new_communications(run_date: dt.date, customers: int, rows: int, seed: int) -> pd.DataFrame:
    """``rows`` communications of the day before ``run_date`` for the customers of an export of
    ``customers``, with ids no sample export uses and none duplicated or broken: a later
    delivery whose every row is new, so a night must load and score exactly these."""
    rate = 0.12 * max(1.0, 2 * rows / (ROWS_PER_CUSTOMER_DAY * customers))
    _, comms = generate(run_date, customers, days=1, seed=seed, per_customer_day=rate)
    clean = comms[(comms["communication_id"] != "") & ~comms["communication_id"].str.endswith("-X")]
    clean = clean.drop_duplicates("communication_id")
    if len(clean) < rows:
        raise ValueError(f"generated {len(clean)} new communications for {run_date}, fewer than {rows}")
    chosen = clean.sample(n=rows, random_state=seed).sort_index().reset_index(drop=True)
    ids = pd.Series(np.arange(1, rows + 1)).map(f"N{run_date:%Y%m%d}-{{:08d}}".format)
    return chosen.assign(communication_id=ids)


def write_new_communications(folder: Path, run_date: dt.date, customers: int, rows: int,
                             seed: int) -> Path:
    """Write :func:`new_communications` as ``communications_new_<date>.csv`` into ``folder``."""
    path = folder / f"communications_new_{run_date - dt.timedelta(days=1)}.csv"
    new_communications(run_date, customers, rows, seed).to_csv(path, index=False)
    return path
