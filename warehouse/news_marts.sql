-- News marts: derived from core.fact_news and friends, rebuilt by every run.
-- PART 2: marts (derived; rebuilt by every run) ---------------------------------------------
-- grain: one row per (event_id, rel_day), rel_day -10..+20 sessions of the reference venue
CREATE TABLE IF NOT EXISTS marts.news_attention (
    event_id VARCHAR NOT NULL, rel_day INTEGER NOT NULL, session_date DATE NOT NULL,
    exchange_mic VARCHAR NOT NULL,
    stories_total BIGINT NOT NULL, stories_event BIGINT NOT NULL, stories_model BIGINT NOT NULL,
    mean_sentiment DOUBLE, top_headlines VARCHAR[] NOT NULL, news_sources VARCHAR[] NOT NULL,
    publishers_event BIGINT NOT NULL,
    is_attention_day BOOLEAN NOT NULL, attention_rel_day INTEGER, attention_date DATE,
    attention_stories BIGINT NOT NULL, attention_publishers BIGINT NOT NULL,
    attention_baseline DOUBLE NOT NULL, attention_burst DOUBLE NOT NULL,
    attention_reason VARCHAR,
    PRIMARY KEY (event_id, rel_day)
);
-- grain: one row per (ticker, news_date) with at least one story naming the ticker
CREATE TABLE IF NOT EXISTS marts.ticker_news_daily (
    ticker VARCHAR NOT NULL, news_date DATE NOT NULL, stories BIGINT NOT NULL,
    stories_in_title BIGINT NOT NULL, mean_sentiment DOUBLE, news_sources VARCHAR[] NOT NULL,
    PRIMARY KEY (ticker, news_date)
);

COMMENT ON TABLE marts.news_attention IS 'When the market noticed each AI event: one row per (event_id, rel_day), rel_day -10..+20 sessions of the reference venue (XNYS). A story counts for the first session closing at or after its publication instant.';
COMMENT ON COLUMN marts.news_attention.event_id IS 'Event identifier (core.dim_event.event_id): catalog events and events detected in the news (detected-<name>).';
COMMENT ON COLUMN marts.news_attention.rel_day IS 'Session offset from the event''s day 0 on the reference venue (0 = first session closing after the announcement).';
COMMENT ON COLUMN marts.news_attention.session_date IS 'Local date of that session on the reference venue.';
COMMENT ON COLUMN marts.news_attention.exchange_mic IS 'Reference venue whose sessions define the days (ISO 10383 MIC, XNYS).';
COMMENT ON COLUMN marts.news_attention.stories_total IS 'Stories of every kind counted for that session (all of core.fact_news): the news flow as a whole.';
COMMENT ON COLUMN marts.news_attention.stories_event IS 'Stories that session naming the event''s lab or its model (core.bridge_news_entity).';
COMMENT ON COLUMN marts.news_attention.stories_model IS 'Stories that session naming the event''s model or product itself (a subset of stories_event); for a detected event, the stories whose title names the detected model.';
COMMENT ON COLUMN marts.news_attention.mean_sentiment IS 'Mean headline sentiment of the event''s stories that session, in [-1, 1]; null when there were none.';
COMMENT ON COLUMN marts.news_attention.top_headlines IS 'Up to three of the event''s headlines that session: most widely carried first, then naming the model, then earliest.';
COMMENT ON COLUMN marts.news_attention.news_sources IS 'Sources of the event''s stories that session (yahoo, feed, hn, demo). demo is synthetic news.';
COMMENT ON COLUMN marts.news_attention.publishers_event IS 'Distinct publishers of the event''s stories that session (the publisher named by the source, case-folded; the source itself when it names none).';
COMMENT ON COLUMN marts.news_attention.is_attention_day IS 'True on the event''s attention day: among the sessions in [0, +10] with the evidence (at least 3 publishers, and at least 3 times the event''s baseline in stories), the one with the most event stories (earliest on ties). False on every row of an event without one.';
COMMENT ON COLUMN marts.news_attention.attention_rel_day IS 'rel_day of the event''s attention day (same on every row of the event); null when no session in [0, +10] has the evidence (attention_reason says why): never a guessed day.';
COMMENT ON COLUMN marts.news_attention.attention_date IS 'Session date of the event''s attention day; null when there is none (attention_reason says why). The reaction marts'' attention anchor starts each venue''s day 0 at its first session on or after this date (marts.event_reaction.anchor = attention); an event without one has no attention rows.';
COMMENT ON COLUMN marts.news_attention.attention_stories IS 'Evidence (same on every row of the event): event stories on the session judged: the attention day, or without one the busiest session in [0, +10] (then most publishers, then earliest).';
COMMENT ON COLUMN marts.news_attention.attention_publishers IS 'Evidence: distinct publishers of the event''s stories on the session judged (publishers_event there); the attention day needs at least 3.';
COMMENT ON COLUMN marts.news_attention.attention_baseline IS 'Evidence: the event''s own baseline, in stories per session: mean stories_event over rel_day -10..-1 (the sessions held), floored at 1 so that a lab nobody wrote about still needs 3 stories.';
COMMENT ON COLUMN marts.news_attention.attention_burst IS 'Evidence: attention_stories / attention_baseline; the attention day needs at least 3.';
COMMENT ON COLUMN marts.news_attention.attention_reason IS 'Why the event has no attention day, for the session judged (first rule failed): no_stories (no story named the event in [0, +10]), too_few_publishers (under 3), no_burst (under 3 times the baseline). Null when it has one.';
COMMENT ON TABLE marts.ticker_news_daily IS 'News per security and day: one row per (ticker, news_date) with at least one story naming the ticker (by name, alias, symbol, cashtag or the source''s own tag).';
COMMENT ON COLUMN marts.ticker_news_daily.ticker IS 'Yahoo-style symbol (core.dim_security.ticker).';
COMMENT ON COLUMN marts.ticker_news_daily.news_date IS 'UTC calendar date of publication.';
COMMENT ON COLUMN marts.ticker_news_daily.stories IS 'Distinct stories naming the ticker that day.';
COMMENT ON COLUMN marts.ticker_news_daily.stories_in_title IS 'Of those, stories naming it in the headline.';
COMMENT ON COLUMN marts.ticker_news_daily.mean_sentiment IS 'Mean headline sentiment of those stories, in [-1, 1].';
COMMENT ON COLUMN marts.ticker_news_daily.news_sources IS 'Sources of those stories (yahoo, feed, hn, demo). demo is synthetic news.';
