-- One row per event with its reactions (measured from the announcement day 0): the event list.
SELECT r.event_id,
       any_value(r.event_name) AS event_name,
       any_value(r.lab) AS lab,
       any_value(r.event_kind) AS event_kind,
       CAST(min(r.announced_at) AS VARCHAR) AS announced_at_utc,
       CAST(min(r.day0) AS VARCHAR) AS first_day0,
       count(*) FILTER (WHERE r.segment <> 'benchmark') AS n_securities,
       avg(r.car_0_p5) FILTER (WHERE r.segment <> 'benchmark') AS mean_car_0_p5,
       avg(r.ar_day0) FILTER (WHERE r.segment <> 'benchmark') AS mean_ar_day0,
       any_value(r.source) AS source,
       '/events/' || r.event_id AS link
FROM marts.event_reaction r
WHERE r.anchor = 'announcement' AND default_model
GROUP BY r.event_id
ORDER BY min(r.announced_at) DESC
