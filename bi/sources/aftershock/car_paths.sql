-- Mean CAR path per (event, segment, relative day) over the segment's securities.
SELECT event_id, segment, rel_day,
       avg(car) AS mean_car,
       count(car) AS n
FROM marts.event_window
WHERE segment <> 'benchmark' AND car IS NOT NULL AND anchor = 'announcement'
GROUP BY event_id, segment, rel_day
