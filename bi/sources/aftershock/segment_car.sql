-- Mean CAR[0,+5] per (event, segment) on the full event × segment grid (null where a segment
-- has no CAR for the event): the "which releases moved what" heatmap.
WITH ev AS (
    SELECT event_id,
           any_value(event_name) || ' (' || CAST(min(day0) AS VARCHAR) || ')' AS event_label,
           CAST(min(announced_at) AS VARCHAR) AS announced_at_utc
    FROM marts.event_reaction WHERE anchor = 'announcement' AND default_model GROUP BY event_id
),
seg AS (
    SELECT DISTINCT segment FROM marts.event_reaction
    WHERE segment <> 'benchmark' AND anchor = 'announcement' AND default_model
),
cell AS (
    SELECT event_id, segment, avg(car_0_p5) AS mean_car_0_p5, count(car_0_p5) AS n
    FROM marts.event_reaction
    WHERE segment <> 'benchmark' AND car_0_p5 IS NOT NULL AND anchor = 'announcement' AND default_model
    GROUP BY event_id, segment
)
SELECT ev.event_id, ev.event_label, ev.announced_at_utc, seg.segment,
       cell.mean_car_0_p5, coalesce(cell.n, 0) AS n
FROM ev CROSS JOIN seg
LEFT JOIN cell ON cell.event_id = ev.event_id AND cell.segment = seg.segment
ORDER BY ev.announced_at_utc DESC, seg.segment
