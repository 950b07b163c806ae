# gnuplot -e "csv='samples.csv'; png='soak.png'" benches/soak/plot.gp
# Six panels over the run's minutes: RSS, open fds, data dir, queue depths, driver rate/errors,
# tracker peers and open connections; A solid, B dashed.
set datafile separator ","
set datafile missing ""
set terminal pngcairo size 1200,860 font "DejaVu Sans,9"
set output png
set multiplot layout 3,2 title "Fleuve soak: two federating instances (A solid, B dashed)"
set xlabel "minutes"
set grid
set key top left
set yrange [0:1<*]
t = 'column("t_s")/60.0'
plot csv using (@t):(column("a_rss_kb")/1024) with lines lw 2 lc 1 title "RSS MiB A", \
     csv using (@t):(column("b_rss_kb")/1024) with lines lw 2 lc 1 dt 2 title "RSS MiB B"
plot csv using (@t):(column("a_fds")) with lines lw 2 lc 2 title "open fds A", \
     csv using (@t):(column("b_fds")) with lines lw 2 lc 2 dt 2 title "open fds B", \
     csv using (@t):(column("a_threads")) with lines lw 1 lc 7 title "threads A", \
     csv using (@t):(column("b_threads")) with lines lw 1 lc 7 dt 2 title "threads B"
plot csv using (@t):(column("a_disk_bytes")/1048576) with lines lw 2 lc 3 title "data dir MiB A", \
     csv using (@t):(column("b_disk_bytes")/1048576) with lines lw 2 lc 3 dt 2 title "data dir MiB B"
plot csv using (@t):(column("a_deliveries_queued")) with lines lw 2 lc 4 title "deliveries queued A", \
     csv using (@t):(column("b_deliveries_queued")) with lines lw 2 lc 4 dt 2 title "deliveries queued B", \
     csv using (@t):(column("a_inbox_queue")) with lines lw 2 lc 5 title "inbox queue A", \
     csv using (@t):(column("b_inbox_queue")) with lines lw 2 lc 5 dt 2 title "inbox queue B", \
     csv using (@t):(column("a_jobs_queued")+column("a_jobs_running")) with lines lw 2 lc 6 title "transcode jobs A", \
     csv using (@t):(column("b_jobs_queued")+column("b_jobs_running")) with lines lw 2 lc 6 dt 2 title "transcode jobs B"
# Driver requests per second between samples (the first sample has none), errors cumulative.
pr = 0; pt = 0
rate(r, t) = (d = (t > pt ? (r - pr) / (t - pt) : NaN), pr = r, pt = t, d)
set y2tics
set ytics nomirror
set y2range [0:1<*]
plot csv using (@t):(rate(column("requests"), column("t_s"))) with lines lw 2 lc 8 title "driver req/s", \
     csv using (@t):(column("errors")) axes x1y2 with lines lw 2 lc 7 title "driver errors (total, right)"
unset y2tics
set ytics mirror
plot csv using (@t):(column("a_tracker_peers")) with lines lw 2 lc 1 title "tracker peers A", \
     csv using (@t):(column("b_tracker_peers")) with lines lw 2 lc 1 dt 2 title "tracker peers B", \
     csv using (@t):(column("a_connections_open")) with lines lw 2 lc 2 title "connections open A", \
     csv using (@t):(column("b_connections_open")) with lines lw 2 lc 2 dt 2 title "connections open B"
unset multiplot
