-- One row per (event, security): the reaction table of an event page.
SELECT event_id, ticker, security_name, segment, exchange_mic, CAST(day0 AS VARCHAR) AS day0,
       ret_day0, ar_day0, car_0_0_t AS t_day0, car_0_p5, car_0_p5_t, car_0_p5_p,
       abnormal_volume, confounded, thin_estimation
FROM marts.event_reaction
WHERE segment <> 'benchmark' AND anchor = 'announcement' AND default_model
