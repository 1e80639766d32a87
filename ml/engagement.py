"""Per-customer engagement changes, tested for every customer at once.

Fitting a model per customer does not scale (hundreds of thousands of sparse series on two
cores), and is not needed: under "the customer's contact rate did not change", the share of
its inbound contacts that fall in the recent window is binomial with p = recent days /
observed days. One SQL aggregate gives every customer's counts, one vectorised binomial tail
gives every p-value, and Benjamini-Hochberg keeps the share of false alarms among the
flagged customers below ``max_false_discovery``.

The test is discrete: a customer with few contacts cannot reach a small p-value whatever it
does (five contacts, none recent, is not evidence), yet counting it raises the bar for every
other customer. Tarone's trick, as Gilbert (2005) uses it for the false discovery rate, leaves
out the customers whose smallest attainable p-value is too large to ever be flagged, before
Benjamini-Hochberg; which customers those are depends only on their total contacts, not on
how they fall between the windows, so leaving them out keeps the false discovery bound.

- declining: few contacts in the last ``recent_days`` against the customer's own earlier rate;
- spike: many contacts in the last ``spike_days`` against the customer's own earlier rate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import duckdb
import numpy as np
import pandas as pd
from scipy.stats import binom
from statsmodels.stats.multitest import multipletests

# Inbound contacts per customer: in each recent window, and in the customer's own history before
# it. That history starts when the customer was created, not at its first contact: a quiet
# customer whose only contacts are a burst was observed, silent, all the days before it. It
# starts no earlier than the data does, nor than ``history_days`` back; a customer the CRM
# never exported (no ``created_at``) is observed from its first contact.
COUNTS_SQL = """
with inbound as (
    select customer_id, activity_date, sum(communications) as n
    from marts.agg_customer_activity_daily
    where direction = 'inbound' and activity_date < $as_of
      and activity_date >= $as_of - $history_days
    group by all
),
data_start as (select min(activity_date) as first_day from marts.agg_customer_activity_daily)
select i.customer_id,
       greatest(least(cast(any_value(c.created_at) as date), min(i.activity_date)), any_value(s.first_day),
                $as_of - $history_days) as observed_from,
       coalesce(sum(n) filter (activity_date >= $as_of - $recent_days), 0) as recent_contacts,
       coalesce(sum(n) filter (activity_date < $as_of - $recent_days), 0) as before_recent,
       coalesce(sum(n) filter (activity_date >= $as_of - $spike_days), 0) as spike_contacts,
       coalesce(sum(n) filter (activity_date < $as_of - $spike_days), 0) as before_spike
from inbound i
cross join data_start s
left join marts.dim_customers c using (customer_id)
group by i.customer_id"""


def _test(counts: pd.DataFrame, as_of: dt.date, window: int, in_window: str, earlier: str,
          lower_tail: bool) -> pd.DataFrame:
    """One-sided binomial test of the window's share of contacts, for all customers at once."""
    observed_days = (pd.Timestamp(as_of) - pd.to_datetime(counts["observed_from"])).dt.days.to_numpy()
    earlier_days = observed_days - window
    k = counts[in_window].to_numpy(dtype=float)
    n = k + counts[earlier].to_numpy(dtype=float)
    p0 = np.divide(window, observed_days, out=np.ones(len(k)), where=observed_days > 0)
    p_value = binom.cdf(k, n, p0) if lower_tail else binom.sf(k - 1, n, p0)
    # the most extreme outcome: no contact in the window, or all of them
    min_p_value = binom.pmf(0, n, p0) if lower_tail else binom.pmf(n, n, p0)
    with np.errstate(divide="ignore", invalid="ignore"):  # no earlier contacts: an infinite ratio
        rate_ratio = np.divide(k / window, counts[earlier].to_numpy() / np.maximum(earlier_days, 1))
    return pd.DataFrame({
        "customer_id": counts["customer_id"], "window_days": window, "window_contacts": k.astype(int),
        "earlier_days": earlier_days, "earlier_contacts": counts[earlier].astype(int),
        "rate_ratio": rate_ratio, "p_value": p_value, "min_p_value": min_p_value,
    })


def _testable(min_p_value: pd.Series, alpha: float) -> pd.Series:
    """Tarone / Gilbert: the smallest K such that at most K customers can reach alpha / K are
    the ones worth testing; the others could not be flagged and would only dilute the rest."""
    attainable = np.sort(min_p_value.to_numpy())
    k = np.arange(1, len(attainable) + 1)
    reach = np.searchsorted(attainable, alpha / k, side="right")
    bar = alpha / k[np.argmax(reach <= k)] if len(k) else 0.0
    return min_p_value <= bar


def _q_values(tested: pd.DataFrame, alpha: float) -> pd.Series:
    """Benjamini-Hochberg q-values over the testable customers (NaN for the others)."""
    testable = tested[_testable(tested["min_p_value"], alpha)]
    q = pd.Series(np.nan, index=tested.index)
    if not testable.empty:
        q[testable.index] = multipletests(testable["p_value"], method="fdr_bh")[1]
    return q


def engagement_changes(con: duckdb.DuckDBPyConnection, as_of: dt.date,
                       thresholds: Mapping[str, float]) -> pd.DataFrame:
    """Customers whose inbound contact rate fell or jumped significantly, one row per signal.

    ``thresholds``: the engagement keys of the follow-up rules (windows, ratios, false discovery)."""
    params = {k: thresholds[k] for k in ("history_days", "recent_days", "spike_days")}
    counts = con.execute(COUNTS_SQL, {"as_of": as_of, **params}).df()
    declining = _test(counts, as_of, thresholds["recent_days"], "recent_contacts", "before_recent", True)
    spike = _test(counts, as_of, thresholds["spike_days"], "spike_contacts", "before_spike", False)
    # customers with too little earlier history cannot show a change: they are not tested at all
    declining = declining[(declining["earlier_days"] >= thresholds["recent_days"])
                          & (declining["earlier_contacts"] >= thresholds["min_earlier_contacts"])]
    spike = spike[spike["earlier_days"] >= thresholds["recent_days"]]
    alpha = thresholds["max_false_discovery"]
    declining = declining.assign(signal="declining", q_value=_q_values(declining, alpha))
    spike = spike.assign(signal="spike", q_value=_q_values(spike, alpha))
    flagged = pd.concat([
        declining[(declining["q_value"] < thresholds["max_false_discovery"])
                  & (declining["rate_ratio"] <= thresholds["decline_max_ratio"])],
        spike[(spike["q_value"] < thresholds["max_false_discovery"])
              & (spike["rate_ratio"] >= thresholds["spike_min_ratio"])
              & (spike["window_contacts"] >= thresholds["min_spike_contacts"])],
    ], ignore_index=True)
    return flagged.drop(columns="min_p_value").assign(as_of_date=as_of)


def store_engagement_changes(con: duckdb.DuckDBPyConnection, as_of: dt.date, flagged: pd.DataFrame,
                             run_id: str) -> None:
    """Replace ``as_of``'s rows of ``ml.customer_engagement`` (re-running a date changes nothing)."""
    con.register("_flagged", flagged.assign(mlflow_run_id=run_id))
    con.execute("delete from ml.customer_engagement where as_of_date = ?", [as_of])
    con.execute("insert into ml.customer_engagement by name select * from _flagged")
    con.unregister("_flagged")
