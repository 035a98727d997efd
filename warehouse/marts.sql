-- Marts: what SQL users and BI tools read. Stable names; every table and column is commented.
-- Rebuilt from core inside each run's transaction, so they always match core exactly.

-- grain: one row per (event_id, anchor, ticker, model); anchor = announcement or attention
CREATE TABLE IF NOT EXISTS marts.event_reaction (
    event_id VARCHAR NOT NULL, anchor VARCHAR NOT NULL,
    event_name VARCHAR NOT NULL, event_kind VARCHAR NOT NULL,
    lab VARCHAR NOT NULL, announced_at TIMESTAMPTZ NOT NULL, detected BOOLEAN NOT NULL,
    ticker VARCHAR NOT NULL, security_name VARCHAR NOT NULL, segment VARCHAR NOT NULL,
    exchange_mic VARCHAR NOT NULL, benchmark VARCHAR NOT NULL,
    benchmark_fallback BOOLEAN NOT NULL,
    day0 DATE NOT NULL, closed_market BOOLEAN NOT NULL,
    confounded BOOLEAN NOT NULL, confounding_events VARCHAR[] NOT NULL,
    estimation_overlap BOOLEAN NOT NULL, n_overlapping_events INTEGER NOT NULL,
    overlapping_events VARCHAR[] NOT NULL,
    model VARCHAR NOT NULL, default_model BOOLEAN NOT NULL,
    ret_day0 DOUBLE, ar_day0 DOUBLE,
    car_0_0 DOUBLE, car_0_0_t DOUBLE, car_0_0_p DOUBLE,
    car_m1_p1 DOUBLE, car_m1_p1_t DOUBLE, car_m1_p1_p DOUBLE,
    car_0_p1 DOUBLE, car_0_p1_t DOUBLE, car_0_p1_p DOUBLE,
    car_0_p5 DOUBLE, car_0_p5_t DOUBLE, car_0_p5_p DOUBLE,
    car_0_p10 DOUBLE, car_0_p10_t DOUBLE, car_0_p10_p DOUBLE,
    car_m5_p20 DOUBLE, car_m5_p20_t DOUBLE, car_m5_p20_p DOUBLE,
    abnormal_volume DOUBLE,
    alpha DOUBLE, beta DOUBLE, sigma DOUBLE, est_n BIGINT NOT NULL,
    thin_estimation BOOLEAN NOT NULL, self_benchmark BOOLEAN NOT NULL, source VARCHAR,
    shares_outstanding DOUBLE, shares_as_of DATE, mcap_usd_prev DOUBLE,
    value_moved_usd_0_0 DOUBLE, value_moved_usd_0_p5 DOUBLE,
    shares_unknown BOOLEAN, fx_unknown BOOLEAN, duplicate_listing_of VARCHAR,
    limit_day0 VARCHAR, one_price_day0 BOOLEAN NOT NULL, censored_day0 BOOLEAN NOT NULL,
    PRIMARY KEY (event_id, anchor, ticker, model)
);

-- grain: one row per (event_id, anchor, ticker, rel_day)
CREATE TABLE IF NOT EXISTS marts.event_window (
    event_id VARCHAR NOT NULL, anchor VARCHAR NOT NULL, ticker VARCHAR NOT NULL,
    segment VARCHAR NOT NULL, rel_day INTEGER NOT NULL, session_date DATE NOT NULL,
    ret DOUBLE, ar DOUBLE, car DOUBLE, limit_hit VARCHAR, one_price BOOLEAN NOT NULL,
    PRIMARY KEY (event_id, anchor, ticker, rel_day)
);

COMMENT ON TABLE marts.event_reaction IS 'How each security reacted to each AI event, measured from two day 0s and under each normal-return model: one row per (event_id, anchor, ticker, model). anchor = announcement: day 0 is the first session of the security''s exchange that closes after the announcement; anchor = attention: day 0 is the exchange''s first session on or after the event''s attention day (marts.news_attention). Filter on anchor (e.g. anchor = ''announcement'') and default_model (the run''s model, the one marts.event_window and marts.event_propagation use) for one row per (event, security); compare models with GROUP BY model. Returns are simple returns of the adjusted close.';
COMMENT ON COLUMN marts.event_reaction.event_id IS 'Event identifier (core.dim_event.event_id); detected events are detected-<name>.';
COMMENT ON COLUMN marts.event_reaction.anchor IS 'Which day 0 the row measures from (part of the key): announcement = the first session of the venue closing after announced_at; attention = the venue''s first session on or after the event''s attention day (the NYSE session in [0,+10] with the most stories about the event, marts.news_attention.attention_date). Events with no attention day have announcement rows only.';
COMMENT ON COLUMN marts.event_reaction.detected IS 'True when the event was detected in the news (core.dim_event.origin = detected: a lab post or a burst of stories naming a model the catalog does not know), false for catalog events. Detected events are measured like catalog ones; see core.dim_event.confidence.';
COMMENT ON COLUMN marts.event_reaction.event_name IS 'Event name, e.g. DeepSeek-R1.';
COMMENT ON COLUMN marts.event_reaction.event_kind IS 'model_release, app_launch, product_launch, policy or other.';
COMMENT ON COLUMN marts.event_reaction.lab IS 'The lab or company behind the event.';
COMMENT ON COLUMN marts.event_reaction.announced_at IS 'Announcement instant (UTC); for a date-only announcement, midnight in the lab''s country.';
COMMENT ON COLUMN marts.event_reaction.ticker IS 'Yahoo-style symbol (core.dim_security.ticker).';
COMMENT ON COLUMN marts.event_reaction.security_name IS 'Company or instrument name.';
COMMENT ON COLUMN marts.event_reaction.segment IS 'AI supply-chain segment of the security (accelerators, foundry, memory, ...).';
COMMENT ON COLUMN marts.event_reaction.exchange_mic IS 'ISO 10383 MIC of the listing venue; its calendar defines the sessions.';
COMMENT ON COLUMN marts.event_reaction.benchmark IS 'Ticker of the index the market model regresses on: the home-market index, or the fallback when that has no data (benchmark_fallback).';
COMMENT ON COLUMN marts.event_reaction.benchmark_fallback IS 'True when the security''s own benchmark (core.dim_security.benchmark) has no prices and the regression used the next link of the chain in transforms/benchmarks.py: the region''s broad index, then ^GSPC. An approximation: filter it out for strict studies.';
COMMENT ON COLUMN marts.event_reaction.day0 IS 'Local date of day 0 for this anchor: announcement = the first session of the venue closing after announced_at; attention = the venue''s first session on or after the attention day.';
COMMENT ON COLUMN marts.event_reaction.closed_market IS 'True when a holiday or closure of the venue pushed day 0 past an ordinary weekday (announcement) or past the attention day (attention): rolled forward.';
COMMENT ON COLUMN marts.event_reaction.confounded IS 'True when another event has its announcement day 0 on this venue within [-1,+1] sessions of this row''s day 0: the reaction may not be this event''s alone.';
COMMENT ON COLUMN marts.event_reaction.confounding_events IS 'event_id of every other catalog event within [-1,+1] sessions of day 0 on this venue, ordered by their day 0 (empty when not confounded).';
COMMENT ON COLUMN marts.event_reaction.estimation_overlap IS 'True when the estimation window ([-250,-11] sessions by default) shares a session with another catalog event''s [-1,+5] window on this venue, so the normal-return model was fitted on possibly event-affected days.';
COMMENT ON COLUMN marts.event_reaction.n_overlapping_events IS 'Number of other catalog events whose [-1,+5] window overlaps this estimation window on this venue.';
COMMENT ON COLUMN marts.event_reaction.overlapping_events IS 'event_id of those events, ordered by their day 0 (empty when there are none).';
COMMENT ON COLUMN marts.event_reaction.model IS 'Normal-return model (part of the key): market (OLS on the benchmark), market_adjusted or mean_adjusted; every run measures all three.';
COMMENT ON COLUMN marts.event_reaction.default_model IS 'True for the run''s model (aftershock run --model, default market): the rows the report, the BI pages and marts.event_window use.';
COMMENT ON COLUMN marts.event_reaction.ret_day0 IS 'Simple return on day 0 (fraction, 0.01 = 1%): adj_close / previous session adj_close - 1.';
COMMENT ON COLUMN marts.event_reaction.ar_day0 IS 'Abnormal return on day 0 (fraction): ret_day0 minus the normal-return model''s prediction.';
COMMENT ON COLUMN marts.event_reaction.car_0_0 IS 'Cumulative abnormal return over sessions [0,0] (fraction).';
COMMENT ON COLUMN marts.event_reaction.car_0_0_t IS 't statistic of car_0_0 (CAR / (sigma * sqrt(L)), forecast-error corrected for the market model).';
COMMENT ON COLUMN marts.event_reaction.car_0_0_p IS 'Two-sided p-value of car_0_0_t (Student t, est_n - 2 df for the market model).';
COMMENT ON COLUMN marts.event_reaction.car_m1_p1 IS 'Cumulative abnormal return over sessions [-1,+1] (fraction).';
COMMENT ON COLUMN marts.event_reaction.car_m1_p1_t IS 't statistic of car_m1_p1.';
COMMENT ON COLUMN marts.event_reaction.car_m1_p1_p IS 'Two-sided p-value of car_m1_p1_t.';
COMMENT ON COLUMN marts.event_reaction.car_0_p1 IS 'Cumulative abnormal return over sessions [0,+1] (fraction).';
COMMENT ON COLUMN marts.event_reaction.car_0_p1_t IS 't statistic of car_0_p1.';
COMMENT ON COLUMN marts.event_reaction.car_0_p1_p IS 'Two-sided p-value of car_0_p1_t.';
COMMENT ON COLUMN marts.event_reaction.car_0_p5 IS 'Cumulative abnormal return over sessions [0,+5] (fraction).';
COMMENT ON COLUMN marts.event_reaction.car_0_p5_t IS 't statistic of car_0_p5.';
COMMENT ON COLUMN marts.event_reaction.car_0_p5_p IS 'Two-sided p-value of car_0_p5_t.';
COMMENT ON COLUMN marts.event_reaction.car_0_p10 IS 'Cumulative abnormal return over sessions [0,+10] (fraction).';
COMMENT ON COLUMN marts.event_reaction.car_0_p10_t IS 't statistic of car_0_p10.';
COMMENT ON COLUMN marts.event_reaction.car_0_p10_p IS 'Two-sided p-value of car_0_p10_t.';
COMMENT ON COLUMN marts.event_reaction.car_m5_p20 IS 'Cumulative abnormal return over sessions [-5,+20] (fraction).';
COMMENT ON COLUMN marts.event_reaction.car_m5_p20_t IS 't statistic of car_m5_p20.';
COMMENT ON COLUMN marts.event_reaction.car_m5_p20_p IS 'Two-sided p-value of car_m5_p20_t.';
COMMENT ON COLUMN marts.event_reaction.abnormal_volume IS 'Day-0 log(1+volume) minus its estimation-window mean, in estimation-window standard deviations.';
COMMENT ON COLUMN marts.event_reaction.alpha IS 'Market-model intercept (daily, fraction) over the estimation window [-250,-11] sessions.';
COMMENT ON COLUMN marts.event_reaction.beta IS 'Market-model slope on the benchmark''s return over the estimation window.';
COMMENT ON COLUMN marts.event_reaction.sigma IS 'Residual standard deviation of the normal-return model over the estimation window (daily, fraction).';
COMMENT ON COLUMN marts.event_reaction.est_n IS 'Number of valid returns in the estimation window.';
COMMENT ON COLUMN marts.event_reaction.thin_estimation IS 'True when est_n is below the minimum (120): model parameters and statistics are left null.';
COMMENT ON COLUMN marts.event_reaction.self_benchmark IS 'True when the security is its own benchmark (an index such as ^GSPC or HSTECH.HK) under the market or market-adjusted model: its abnormal return is zero by construction, so alpha, beta, sigma, ARs and statistics are null; returns are kept.';
COMMENT ON COLUMN marts.event_reaction.shares_outstanding IS 'Shares outstanding used for the market value: the latest count on or before the day -1 session (at most 400 days old). Null when unknown or not applicable (indices, ETFs, futures).';
COMMENT ON COLUMN marts.event_reaction.shares_as_of IS 'Date of that share count.';
COMMENT ON COLUMN marts.event_reaction.mcap_usd_prev IS 'Market value in USD at the close of day -1: unadjusted close x shares_outstanding x USD per unit of the listing currency on that date.';
COMMENT ON COLUMN marts.event_reaction.value_moved_usd_0_0 IS 'USD market value moved over [0,0]: market value at the close of day 0 minus at the close of day -1 (each at its own date''s FX). Null, never guessed, when shares or FX are unknown.';
COMMENT ON COLUMN marts.event_reaction.value_moved_usd_0_p5 IS 'USD market value moved over [0,+5]: close of day +5 minus close of day -1. Null when unknown or day +5 has not happened yet.';
COMMENT ON COLUMN marts.event_reaction.shares_unknown IS 'True when no share count was known for an equity or ADR, so the value columns are null. Null for indices, ETFs and futures (not applicable).';
COMMENT ON COLUMN marts.event_reaction.fx_unknown IS 'True when a non-USD listing had no FX rate within 7 days, so the value columns are null.';
COMMENT ON COLUMN marts.event_reaction.duplicate_listing_of IS 'For a second listing of one company (NVD.DE, TSM, ASML, BABA), its primary listing: such rows keep their values but segment totals count the company once.';
COMMENT ON COLUMN marts.event_reaction.limit_day0 IS 'up or down when the day-0 close sat at the venue''s daily price limit (SSE/SZSE main board 10 %, ChiNext and STAR 20 %, KRX 30 %, TWSE 10 %, Tokyo''s yen bands; transforms/limits.py), else null. Indices, ETFs and futures have no limit.';
COMMENT ON COLUMN marts.event_reaction.one_price_day0 IS 'True when day 0 was a one-price bar at the limit (open = high = low = close): the stock never traded away from the limit price.';
COMMENT ON COLUMN marts.event_reaction.censored_day0 IS 'True when the day-0 return is censored by a price limit (limit_day0 is set): trading stopped at the limit, so the true reaction was at least as large as ret_day0 and ar_day0 (and the CARs that contain day 0) show.';
COMMENT ON COLUMN marts.event_reaction.source IS 'Where the prices came from: yahoo, snapshot or demo (demo data is synthetic).';

COMMENT ON TABLE marts.event_window IS 'Daily path of each reaction for charts: one row per (event_id, anchor, ticker, rel_day), rel_day -10..+20 sessions from the anchor''s day 0.';
COMMENT ON COLUMN marts.event_window.event_id IS 'Event identifier.';
COMMENT ON COLUMN marts.event_window.anchor IS 'Which day 0 rel_day counts from (part of the key): announcement or attention, as in marts.event_reaction.anchor.';
COMMENT ON COLUMN marts.event_window.ticker IS 'Security ticker.';
COMMENT ON COLUMN marts.event_window.segment IS 'AI supply-chain segment of the security.';
COMMENT ON COLUMN marts.event_window.rel_day IS 'Session offset from the anchor''s day 0 on the security''s venue.';
COMMENT ON COLUMN marts.event_window.session_date IS 'Local date of that session.';
COMMENT ON COLUMN marts.event_window.ret IS 'Simple return that session (fraction).';
COMMENT ON COLUMN marts.event_window.ar IS 'Abnormal return that session (fraction).';
COMMENT ON COLUMN marts.event_window.car IS 'Cumulative abnormal return from rel_day -10 through this session (fraction).';
COMMENT ON COLUMN marts.event_window.limit_hit IS 'up or down when this session''s close sat at the venue''s daily price limit (the return is censored: the true move was at least this large), else null; see marts.event_reaction.limit_day0.';
COMMENT ON COLUMN marts.event_window.one_price IS 'True when this session was a one-price bar at the limit (open = high = low = close).';

-- grain: one row per (event_id, anchor, segment, car_window, model); segment 'all' pools every
-- non-benchmark security of the event, segment 'benchmark' (indices, ETFs, index futures) is
-- only its own row
CREATE TABLE IF NOT EXISTS marts.event_segment_summary (
    event_id VARCHAR NOT NULL, anchor VARCHAR NOT NULL, event_name VARCHAR NOT NULL,
    detected BOOLEAN NOT NULL, segment VARCHAR NOT NULL,
    car_window VARCHAR NOT NULL, window_start INTEGER NOT NULL, window_end INTEGER NOT NULL,
    model VARCHAR NOT NULL, default_model BOOLEAN NOT NULL,
    n_securities BIGINT NOT NULL, n BIGINT NOT NULL, n_days BIGINT,
    caar DOUBLE,
    bw1980 DOUBLE, p_bw1980 DOUBLE, bw1985 DOUBLE, p_bw1985 DOUBLE,
    cs_t DOUBLE, p_cs_t DOUBLE, patell DOUBLE, p_patell DOUBLE,
    bmp DOUBLE, p_bmp DOUBLE, kp_bmp DOUBLE, p_kp_bmp DOUBLE,
    gen_sign DOUBLE, p_gen_sign DOUBLE, corrado_rank DOUBLE, p_corrado_rank DOUBLE,
    p_hat DOUBLE, rbar DOUBLE,
    value_moved_usd_0_0 DOUBLE, value_moved_usd_0_p5 DOUBLE,
    n_applicable BIGINT, n_valued_0_0 BIGINT, n_valued_0_p5 BIGINT,
    PRIMARY KEY (event_id, anchor, segment, car_window, model)
);

-- grain: one row per (event_id, anchor, exchange_mic): each venue's day-0 session, in
-- close-time order
CREATE TABLE IF NOT EXISTS marts.event_propagation (
    event_id VARCHAR NOT NULL, anchor VARCHAR NOT NULL, event_name VARCHAR NOT NULL,
    announced_at TIMESTAMPTZ NOT NULL, announced_precision VARCHAR NOT NULL,
    exchange_mic VARCHAR NOT NULL, venue_name VARCHAR NOT NULL, venue_group VARCHAR NOT NULL,
    day0 DATE NOT NULL, day0_open_utc TIMESTAMPTZ, day0_close_utc TIMESTAMPTZ NOT NULL,
    closed_market BOOLEAN NOT NULL, close_order INTEGER NOT NULL,
    first_trade_utc TIMESTAMPTZ NOT NULL, reaction_order INTEGER NOT NULL,
    hours_after_announcement DOUBLE NOT NULL,
    n_securities INTEGER NOT NULL, n_with_ar INTEGER NOT NULL,
    median_ar_day0 DOUBLE, mean_ar_day0 DOUBLE, median_ret_day0 DOUBLE, mean_ret_day0 DOUBLE,
    benchmark_ticker VARCHAR, benchmark_ret_day0 DOUBLE,
    n_etf_futures INTEGER NOT NULL, etf_futures_median_ret_day0 DOUBLE,
    detected BOOLEAN NOT NULL,
    n_at_us_open INTEGER NOT NULL, median_ret_us_open DOUBLE,
    PRIMARY KEY (event_id, anchor, exchange_mic)
);

COMMENT ON TABLE marts.event_segment_summary IS 'Cross-section of each AI event per supply-chain segment, CAR window and normal-return model: one row per (event_id, anchor, segment, car_window, model); filter default_model for the run''s model. Segment ''all'' pools every non-benchmark security; segment ''benchmark'' (indices, ETFs, index futures) appears only as its own row. Statistics as in R''s estudy2 (docs/method.md). Every security of an event shares its event date, so cross-sectional correlation inflates the classic statistics: bw1985 and kp_bmp are the headline ones.';
COMMENT ON COLUMN marts.event_segment_summary.event_id IS 'Event identifier (core.dim_event.event_id).';
COMMENT ON COLUMN marts.event_segment_summary.anchor IS 'Which day 0 the windows count from (part of the key): announcement or attention, as in marts.event_reaction.anchor.';
COMMENT ON COLUMN marts.event_segment_summary.event_name IS 'Event name, e.g. DeepSeek-R1.';
COMMENT ON COLUMN marts.event_segment_summary.detected IS 'True when the event was detected in the news (core.dim_event.origin = detected), false for catalog events.';
COMMENT ON COLUMN marts.event_segment_summary.segment IS 'AI supply-chain segment (as in core.dim_security), ''all'' for every non-benchmark security of the event, or ''benchmark''.';
COMMENT ON COLUMN marts.event_segment_summary.car_window IS 'CAR window name: car_0_0, car_m1_p1, car_0_p1, car_0_p5, car_0_p10, car_m5_p20 (m = minus, p = plus sessions).';
COMMENT ON COLUMN marts.event_segment_summary.window_start IS 'First session of the window relative to day 0 (inclusive).';
COMMENT ON COLUMN marts.event_segment_summary.window_end IS 'Last session of the window relative to day 0 (inclusive).';
COMMENT ON COLUMN marts.event_segment_summary.model IS 'Normal-return model (part of the key): market, market_adjusted or mean_adjusted.';
COMMENT ON COLUMN marts.event_segment_summary.default_model IS 'True for the run''s model (aftershock run --model, default market).';
COMMENT ON COLUMN marts.event_segment_summary.n_securities IS 'Securities of the segment in marts.event_reaction for this event (including thin-estimation and self-benchmark ones, which take no part in the statistics).';
COMMENT ON COLUMN marts.event_segment_summary.n IS 'Securities with an estimated model and an abnormal return on every session of the window: the N behind caar, cs_t, bmp, kp_bmp and gen_sign.';
COMMENT ON COLUMN marts.event_segment_summary.n_days IS 'Sessions of the window with at least one abnormal return; the day-summed statistics (bw1980, bw1985, patell, corrado_rank) are null unless this equals the window length.';
COMMENT ON COLUMN marts.event_segment_summary.caar IS 'Cumulative average abnormal return (fraction): mean over the n securities of their CAR over the window.';
COMMENT ON COLUMN marts.event_segment_summary.bw1980 IS 'Brown-Warner (1980) t: sum over the window of mean AR / (sqrt(sum sigma_i^2)/M), divided by sqrt(L). Assumes independent securities.';
COMMENT ON COLUMN marts.event_segment_summary.p_bw1980 IS 'Two-sided p-value of bw1980 (Student t, mean estimation length - 1 df).';
COMMENT ON COLUMN marts.event_segment_summary.bw1985 IS 'HEADLINE. Brown-Warner (1985) crude-dependence-adjusted t: sum over the window of mean AR / sd of the estimation-window daily mean AR, divided by sqrt(L). Robust to cross-sectional correlation, which a shared event date creates.';
COMMENT ON COLUMN marts.event_segment_summary.p_bw1985 IS 'HEADLINE. Two-sided p-value of bw1985 (Student t, mean estimation length - 1 df).';
COMMENT ON COLUMN marts.event_segment_summary.cs_t IS 'Cross-sectional t: caar / sd(CAR_i) * sqrt(n).';
COMMENT ON COLUMN marts.event_segment_summary.p_cs_t IS 'Two-sided p-value of cs_t (Student t, n - 1 df).';
COMMENT ON COLUMN marts.event_segment_summary.patell IS 'Patell (1976) Z: sum over the window of the daily sum of standardised ARs / sqrt(sum (T_i-k)/(T_i-k-2)), divided by sqrt(L).';
COMMENT ON COLUMN marts.event_segment_summary.p_patell IS 'Two-sided p-value of patell (standard normal).';
COMMENT ON COLUMN marts.event_segment_summary.bmp IS 'Boehmer-Musumeci-Poulsen (1991) t: mean / sd of the standardised CARs * sqrt(n).';
COMMENT ON COLUMN marts.event_segment_summary.p_bmp IS 'Two-sided p-value of bmp (Student t, n - 1 df).';
COMMENT ON COLUMN marts.event_segment_summary.kp_bmp IS 'HEADLINE. Kolari-Pynnonen (2010) adjusted BMP: bmp * sqrt((1 - rbar) / (1 + (n - 1) * rbar)), correcting for the cross-correlation of abnormal returns on a shared event date.';
COMMENT ON COLUMN marts.event_segment_summary.p_kp_bmp IS 'HEADLINE. Two-sided p-value of kp_bmp (Student t, n - 1 df).';
COMMENT ON COLUMN marts.event_segment_summary.gen_sign IS 'Generalized sign Z (Cowan 1992): (securities with CAR > 0 - n * p_hat) / sqrt(n * p_hat * (1 - p_hat)).';
COMMENT ON COLUMN marts.event_segment_summary.p_gen_sign IS 'Two-sided p-value of gen_sign (standard normal).';
COMMENT ON COLUMN marts.event_segment_summary.corrado_rank IS 'Corrado (1989) rank test, summed over the window days and divided by sqrt(L) (Cowan 1992), as estudy2''s rank_test.';
COMMENT ON COLUMN marts.event_segment_summary.p_corrado_rank IS 'Two-sided p-value of corrado_rank (standard normal).';
COMMENT ON COLUMN marts.event_segment_summary.p_hat IS 'Share of positive abnormal returns over the estimation windows of the group (the generalized sign test''s expected share).';
COMMENT ON COLUMN marts.event_segment_summary.rbar IS 'Average pairwise correlation of the securities'' estimation-window abnormal returns (Kolari-Pynnonen''s r-bar).';
COMMENT ON COLUMN marts.event_segment_summary.value_moved_usd_0_0 IS 'Total USD market value the segment''s securities moved on day 0 ([0,0]). Sum over the n_valued_0_0 securities with a known share count and FX (see marts.event_reaction.value_moved_usd_0_0); second listings of one company are counted once; null when none is known.';
COMMENT ON COLUMN marts.event_segment_summary.value_moved_usd_0_p5 IS 'Total USD market value the segment''s securities moved over sessions [0,+5]: sum over the n_valued_0_p5 securities with a known share count and FX; null when none is known.';
COMMENT ON COLUMN marts.event_segment_summary.n_applicable IS 'Securities of the segment a market value applies to (equities and ADRs, second listings of one company left out): the M in "value moved over N of M securities".';
COMMENT ON COLUMN marts.event_segment_summary.n_valued_0_0 IS 'Of n_applicable, how many have a known share count, FX and prices for [0,0]: the N behind value_moved_usd_0_0.';
COMMENT ON COLUMN marts.event_segment_summary.n_valued_0_p5 IS 'Of n_applicable, how many have a known share count, FX and prices for [0,+5]: the N behind value_moved_usd_0_p5.';

COMMENT ON TABLE marts.event_propagation IS 'How the shock travelled: one row per (event_id, anchor, exchange_mic), each venue''s day-0 session for that anchor ordered by its close in UTC (close_order), with the median day-0 abnormal return of the venue''s non-benchmark securities. XNAS, XNYS and ARCX are separate rows sharing one close_order (venue_group ''US cash'').';
COMMENT ON COLUMN marts.event_propagation.event_id IS 'Event identifier.';
COMMENT ON COLUMN marts.event_propagation.anchor IS 'Which day 0 (part of the key): announcement = each venue''s first session closing after announced_at; attention = each venue''s first session on or after the attention day.';
COMMENT ON COLUMN marts.event_propagation.event_name IS 'Event name.';
COMMENT ON COLUMN marts.event_propagation.detected IS 'True when the event was detected in the news (core.dim_event.origin = detected), false for catalog events.';
COMMENT ON COLUMN marts.event_propagation.announced_at IS 'Announcement instant (UTC); for a date-only announcement, midnight in the lab''s country.';
COMMENT ON COLUMN marts.event_propagation.announced_precision IS 'minute (announced_at is exact) or date (announced_at is the lab''s local midnight).';
COMMENT ON COLUMN marts.event_propagation.exchange_mic IS 'ISO 10383 MIC of the venue.';
COMMENT ON COLUMN marts.event_propagation.venue_name IS 'Venue name, e.g. Tokyo Stock Exchange.';
COMMENT ON COLUMN marts.event_propagation.venue_group IS 'City or market the venue belongs to (Tokyo, Seoul, Taipei, Hong Kong, Shenzhen, Amsterdam/Frankfurt, US futures, US cash); group by it to merge venues with one close.';
COMMENT ON COLUMN marts.event_propagation.day0 IS 'Local date of the venue''s day 0 for this anchor: its first session closing after announced_at (announcement) or on or after the attention day (attention).';
COMMENT ON COLUMN marts.event_propagation.first_trade_utc IS 'The first instant the venue could trade on the news: the later of announced_at and day0_open_utc (CME Globex, open from Sunday 23:00 UTC, trades before any cash market).';
COMMENT ON COLUMN marts.event_propagation.reaction_order IS 'Dense rank of first_trade_utc within the event and anchor: the order in which markets could react (1 = first). close_order keeps the close-to-close view beside it.';
COMMENT ON COLUMN marts.event_propagation.n_at_us_open IS 'Non-benchmark securities of the venue with a known price at the US cash open (marts.event_intraday_mark, mark us_cash_open): venues already closed count from their close, open venues only with hourly bars.';
COMMENT ON COLUMN marts.event_propagation.median_ret_us_open IS 'Median return from the previous official close to the US cash open over those n_at_us_open securities: every venue measured at one common instant; null when none is known.';
COMMENT ON COLUMN marts.event_propagation.day0_open_utc IS 'Open of the day-0 session (UTC). CME Globex futures open the previous evening, so they trade the news before the cash markets even though they close later.';
COMMENT ON COLUMN marts.event_propagation.day0_close_utc IS 'Close of the day-0 session (UTC): the instant by which the venue had priced the news.';
COMMENT ON COLUMN marts.event_propagation.closed_market IS 'True when a holiday or closure pushed the venue''s day 0 past an ordinary weekday.';
COMMENT ON COLUMN marts.event_propagation.close_order IS 'Dense rank of day0_close_utc within the event and anchor: 1 = the first venue to close after the announcement; venues closing at the same instant share a rank.';
COMMENT ON COLUMN marts.event_propagation.hours_after_announcement IS 'Hours from announced_at to day0_close_utc.';
COMMENT ON COLUMN marts.event_propagation.n_securities IS 'Non-benchmark securities of the venue with a day-0 return in marts.event_reaction.';
COMMENT ON COLUMN marts.event_propagation.n_with_ar IS 'Of those, the securities with a day-0 abnormal return (an estimated normal-return model).';
COMMENT ON COLUMN marts.event_propagation.median_ar_day0 IS 'Median day-0 abnormal return (fraction) of the venue''s non-benchmark securities.';
COMMENT ON COLUMN marts.event_propagation.mean_ar_day0 IS 'Mean day-0 abnormal return (fraction) of the venue''s non-benchmark securities.';
COMMENT ON COLUMN marts.event_propagation.median_ret_day0 IS 'Median day-0 simple return (fraction) of the venue''s non-benchmark securities.';
COMMENT ON COLUMN marts.event_propagation.mean_ret_day0 IS 'Mean day-0 simple return (fraction) of the venue''s non-benchmark securities.';
COMMENT ON COLUMN marts.event_propagation.benchmark_ticker IS 'Home index the venue''s securities are regressed on (the most common benchmark in core.dim_security).';
COMMENT ON COLUMN marts.event_propagation.benchmark_ret_day0 IS 'Return of benchmark_ticker on the venue''s day-0 date (fraction); null when it has no price that day. Its abnormal return is zero by construction, so none is given.';
COMMENT ON COLUMN marts.event_propagation.n_etf_futures IS 'ETFs and index futures of the venue (core.dim_security.kind etf or future) with a day-0 return in marts.event_reaction.';
COMMENT ON COLUMN marts.event_propagation.etf_futures_median_ret_day0 IS 'Median day-0 return (fraction) of those ETFs and futures: the only reading on venues that list nothing else (XCME index futures, ARCX ETFs). Indices are left out (see benchmark_ret_day0).';

-- grain: one row per (event_id, anchor, ticker, bar_start_utc): the hourly bars of each
-- security's day-0 session (only where hourly bars were loaded)
CREATE TABLE IF NOT EXISTS marts.event_intraday (
    event_id VARCHAR NOT NULL, anchor VARCHAR NOT NULL, ticker VARCHAR NOT NULL,
    exchange_mic VARCHAR NOT NULL, segment VARCHAR NOT NULL, day0 DATE NOT NULL,
    bar_start_utc TIMESTAMPTZ NOT NULL, bar_end_utc TIMESTAMPTZ NOT NULL,
    prev_close DOUBLE, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE NOT NULL,
    volume DOUBLE, ret_from_prev_close DOUBLE, low_from_prev_close DOUBLE,
    high_from_prev_close DOUBLE,
    PRIMARY KEY (event_id, anchor, ticker, bar_start_utc)
);

-- grain: one row per (event_id, anchor, ticker, mark): the price at each named instant of
-- day 0 (transforms/intraday.py MARKS)
CREATE TABLE IF NOT EXISTS marts.event_intraday_mark (
    event_id VARCHAR NOT NULL, anchor VARCHAR NOT NULL, ticker VARCHAR NOT NULL,
    exchange_mic VARCHAR NOT NULL, segment VARCHAR NOT NULL, day0 DATE NOT NULL,
    mark VARCHAR NOT NULL, mark_utc TIMESTAMPTZ, prev_close DOUBLE, price DOUBLE,
    ret_from_prev_close DOUBLE, price_source VARCHAR, as_of_utc TIMESTAMPTZ,
    hourly_bars BOOLEAN NOT NULL, missing_reason VARCHAR,
    PRIMARY KEY (event_id, anchor, ticker, mark)
);

COMMENT ON TABLE marts.event_intraday IS 'The day-0 session hour by hour: one row per (event_id, anchor, ticker, bar_start_utc) for every security with hourly bars (core.fact_price_intraday), each bar''s return from the previous official close. "NQ=F before the US open" is WHERE ticker = ''NQ=F'' AND bar_end_utc <= the US open (or see marts.event_intraday_mark).';
COMMENT ON COLUMN marts.event_intraday.event_id IS 'Event identifier (core.dim_event.event_id).';
COMMENT ON COLUMN marts.event_intraday.anchor IS 'Which day 0 (part of the key): announcement or attention, as in marts.event_reaction.anchor.';
COMMENT ON COLUMN marts.event_intraday.ticker IS 'Yahoo-style symbol (core.dim_security.ticker).';
COMMENT ON COLUMN marts.event_intraday.exchange_mic IS 'ISO 10383 MIC of the security''s venue.';
COMMENT ON COLUMN marts.event_intraday.segment IS 'AI supply-chain segment (core.dim_security.segment).';
COMMENT ON COLUMN marts.event_intraday.day0 IS 'Local date of the venue''s day-0 session; every bar of the row belongs to it (CME Globex sessions open the previous evening).';
COMMENT ON COLUMN marts.event_intraday.bar_start_utc IS 'Start of the hourly bar (UTC).';
COMMENT ON COLUMN marts.event_intraday.bar_end_utc IS 'End of the hourly bar (UTC): bar_start_utc + 1 hour; the bar''s close is the price at this instant (or at the session close, if earlier).';
COMMENT ON COLUMN marts.event_intraday.prev_close IS 'Official (daily) close of the session before day 0, as traded: the base of every return of the row; null when that close was not loaded.';
COMMENT ON COLUMN marts.event_intraday.open IS 'Bar open, as traded, in the listing currency.';
COMMENT ON COLUMN marts.event_intraday.high IS 'Bar high.';
COMMENT ON COLUMN marts.event_intraday.low IS 'Bar low.';
COMMENT ON COLUMN marts.event_intraday.close IS 'Bar close.';
COMMENT ON COLUMN marts.event_intraday.volume IS 'Bar volume (indices carry 0).';
COMMENT ON COLUMN marts.event_intraday.ret_from_prev_close IS 'close / prev_close - 1 (fraction): the move from the previous official close to the end of this bar.';
COMMENT ON COLUMN marts.event_intraday.low_from_prev_close IS 'low / prev_close - 1: the deepest point of the bar against the previous close.';
COMMENT ON COLUMN marts.event_intraday.high_from_prev_close IS 'high / prev_close - 1.';

COMMENT ON TABLE marts.event_intraday_mark IS 'The price of each security at named instants of its day 0: one row per (event_id, anchor, ticker, mark), mark in announcement, us_cash_open, venue_open, venue_close, intraday_low, intraday_high, each with its return from the previous official close. A price is never guessed: where it is unknown it is null and missing_reason says why (docs/method.md §5).';
COMMENT ON COLUMN marts.event_intraday_mark.event_id IS 'Event identifier (core.dim_event.event_id).';
COMMENT ON COLUMN marts.event_intraday_mark.anchor IS 'Which day 0 (part of the key): announcement or attention, as in marts.event_reaction.anchor.';
COMMENT ON COLUMN marts.event_intraday_mark.ticker IS 'Yahoo-style symbol (core.dim_security.ticker).';
COMMENT ON COLUMN marts.event_intraday_mark.exchange_mic IS 'ISO 10383 MIC of the security''s venue.';
COMMENT ON COLUMN marts.event_intraday_mark.segment IS 'AI supply-chain segment (core.dim_security.segment).';
COMMENT ON COLUMN marts.event_intraday_mark.day0 IS 'Local date of the venue''s day-0 session.';
COMMENT ON COLUMN marts.event_intraday_mark.mark IS 'announcement (the catalog''s announcement instant, where it has a time), us_cash_open (NYSE''s open on the event''s US day 0: 14:30 UTC, 13:30 UTC in US daylight time), venue_open, venue_close (the day-0 session''s own open and close), intraday_low, intraday_high (the day-0 daily bar''s low and high).';
COMMENT ON COLUMN marts.event_intraday_mark.mark_utc IS 'The instant of the mark (UTC); null for intraday_low and intraday_high (a daily bar does not say when) and for an announcement without a time.';
COMMENT ON COLUMN marts.event_intraday_mark.prev_close IS 'Official (daily) close of the session before day 0, as traded: the base of ret_from_prev_close.';
COMMENT ON COLUMN marts.event_intraday_mark.price IS 'The last price known at mark_utc (listing currency): the previous close before the venue opened, the day-0 close after it closed, the daily open at the open, and in between the open of the hourly bar holding the instant. Null when unknown (see missing_reason).';
COMMENT ON COLUMN marts.event_intraday_mark.ret_from_prev_close IS 'price / prev_close - 1 (fraction). For us_cash_open: how far the security had moved by the time New York opened.';
COMMENT ON COLUMN marts.event_intraday_mark.price_source IS 'Where price comes from: previous_close (the venue had not opened), daily (the daily bar: open, close, low, high), hourly (an hourly bar); null when price is null.';
COMMENT ON COLUMN marts.event_intraday_mark.as_of_utc IS 'The instant price was observed: the bar start for an hourly price, the session open or close for a daily one; null for intraday_low and intraday_high.';
COMMENT ON COLUMN marts.event_intraday_mark.hourly_bars IS 'True when the security has hourly bars for its day-0 session; false means every instant inside the session is null (no_hourly_bars), never interpolated.';
COMMENT ON COLUMN marts.event_intraday_mark.missing_reason IS 'Why price is null: time_unknown (the announcement has a date only), no_us_session (no US day 0 for the event), outside_window (the instant is before the previous close), no_hourly_bars (the venue was open at the instant and no hourly bar exists), no_previous_close, no_daily_bar. Null when price is known.';
