-- Marts: what SQL users and BI tools read. Stable names; every table and column is commented.
-- Rebuilt from core inside each run's transaction, so they always match core exactly.

-- grain: one row per (event_id, ticker)
CREATE TABLE IF NOT EXISTS marts.event_reaction (
    event_id VARCHAR NOT NULL, event_name VARCHAR NOT NULL, event_kind VARCHAR NOT NULL,
    lab VARCHAR NOT NULL, announced_at TIMESTAMPTZ NOT NULL,
    ticker VARCHAR NOT NULL, security_name VARCHAR NOT NULL, segment VARCHAR NOT NULL,
    exchange_mic VARCHAR NOT NULL, benchmark VARCHAR NOT NULL,
    day0 DATE NOT NULL, closed_market BOOLEAN NOT NULL, model VARCHAR NOT NULL,
    ret_day0 DOUBLE, ar_day0 DOUBLE,
    car_0_0 DOUBLE, car_0_0_t DOUBLE, car_0_0_p DOUBLE,
    car_m1_p1 DOUBLE, car_m1_p1_t DOUBLE, car_m1_p1_p DOUBLE,
    car_0_p1 DOUBLE, car_0_p1_t DOUBLE, car_0_p1_p DOUBLE,
    car_0_p5 DOUBLE, car_0_p5_t DOUBLE, car_0_p5_p DOUBLE,
    car_0_p10 DOUBLE, car_0_p10_t DOUBLE, car_0_p10_p DOUBLE,
    car_m5_p20 DOUBLE, car_m5_p20_t DOUBLE, car_m5_p20_p DOUBLE,
    abnormal_volume DOUBLE,
    alpha DOUBLE, beta DOUBLE, sigma DOUBLE, est_n BIGINT NOT NULL,
    thin_estimation BOOLEAN NOT NULL, source VARCHAR,
    PRIMARY KEY (event_id, ticker)
);

-- grain: one row per (event_id, ticker, rel_day)
CREATE TABLE IF NOT EXISTS marts.event_window (
    event_id VARCHAR NOT NULL, ticker VARCHAR NOT NULL, segment VARCHAR NOT NULL,
    rel_day INTEGER NOT NULL, session_date DATE NOT NULL,
    ret DOUBLE, ar DOUBLE, car DOUBLE,
    PRIMARY KEY (event_id, ticker, rel_day)
);

COMMENT ON TABLE marts.event_reaction IS 'How each security reacted to each AI event: one row per (event_id, ticker). Day 0 is the first session of the security''s exchange that closes after the announcement; returns are simple returns of the adjusted close.';
COMMENT ON COLUMN marts.event_reaction.event_id IS 'Event identifier (core.dim_event.event_id).';
COMMENT ON COLUMN marts.event_reaction.event_name IS 'Event name, e.g. DeepSeek-R1.';
COMMENT ON COLUMN marts.event_reaction.event_kind IS 'model_release, app_launch, product_launch, policy or other.';
COMMENT ON COLUMN marts.event_reaction.lab IS 'The lab or company behind the event.';
COMMENT ON COLUMN marts.event_reaction.announced_at IS 'Announcement instant (UTC); for a date-only announcement, midnight in the lab''s country.';
COMMENT ON COLUMN marts.event_reaction.ticker IS 'Yahoo-style symbol (core.dim_security.ticker).';
COMMENT ON COLUMN marts.event_reaction.security_name IS 'Company or instrument name.';
COMMENT ON COLUMN marts.event_reaction.segment IS 'AI supply-chain segment of the security (accelerators, foundry, memory, ...).';
COMMENT ON COLUMN marts.event_reaction.exchange_mic IS 'ISO 10383 MIC of the listing venue; its calendar defines the sessions.';
COMMENT ON COLUMN marts.event_reaction.benchmark IS 'Ticker of the home-market index the market model regresses on.';
COMMENT ON COLUMN marts.event_reaction.day0 IS 'Local date of day 0: the first session of the venue closing after announced_at.';
COMMENT ON COLUMN marts.event_reaction.closed_market IS 'True when a holiday or closure of the venue pushed day 0 past an ordinary weekday (rolled forward).';
COMMENT ON COLUMN marts.event_reaction.model IS 'Normal-return model: market (OLS on the benchmark), market_adjusted or mean_adjusted.';
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
COMMENT ON COLUMN marts.event_reaction.source IS 'Where the prices came from: yahoo, snapshot or demo (demo data is synthetic).';

COMMENT ON TABLE marts.event_window IS 'Daily path of each reaction for charts: one row per (event_id, ticker, rel_day), rel_day -10..+20 sessions.';
COMMENT ON COLUMN marts.event_window.event_id IS 'Event identifier.';
COMMENT ON COLUMN marts.event_window.ticker IS 'Security ticker.';
COMMENT ON COLUMN marts.event_window.segment IS 'AI supply-chain segment of the security.';
COMMENT ON COLUMN marts.event_window.rel_day IS 'Session offset from day 0 on the security''s venue.';
COMMENT ON COLUMN marts.event_window.session_date IS 'Local date of that session.';
COMMENT ON COLUMN marts.event_window.ret IS 'Simple return that session (fraction).';
COMMENT ON COLUMN marts.event_window.ar IS 'Abnormal return that session (fraction).';
COMMENT ON COLUMN marts.event_window.car IS 'Cumulative abnormal return from rel_day -10 through this session (fraction).';
