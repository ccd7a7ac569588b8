# reliability/progress.sh - sourced by flake.sh and leaks.sh: where a long
# loop is. progress_line I N START prints "elapsed D, about D left" for item
# I of N finished, START being the loop's start (date +%s); the estimate is
# the mean of the finished items times the items left.
fmt_secs() { # fmt_secs S: 75 -> 1m15s
	local s=$1
	if [ "$s" -ge 3600 ]; then printf '%dh%02dm' $((s / 3600)) $((s % 3600 / 60))
	elif [ "$s" -ge 60 ]; then printf '%dm%02ds' $((s / 60)) $((s % 60))
	else printf '%ds' "$s"; fi
}
progress_line() { # progress_line I N START
	local i=$1 n=$2 el=$(( $(date +%s) - $3 ))
	printf 'elapsed %s' "$(fmt_secs "$el")"
	if [ "$i" -gt 0 ] && [ "$i" -lt "$n" ]; then
		printf ', about %s left' "$(fmt_secs $(( el * (n - i) / i )))"
	fi
}
