# bash completion for tetherctl(1)                              -*- sh -*-
# make install puts it where bash-completion looks (pkg-config
# --variable=completionsdir bash-completion, under the prefix), named
# tetherctl; or source it.  The candidates come from tetherctl itself
# (its hidden `tetherctl complete -- WORD...`): verbs, options, syscall
# names, and from the running server (its -s socket, or the default) its
# labels, fds and worker pids -- the same rules as Tab in
# `tetherctl attach`.

_tetherctl()
{
	local cur cword ctl kind q c
	local -a words reply
	if declare -F _get_comp_words_by_ref >/dev/null 2>&1; then
		_get_comp_words_by_ref -n =: cur words cword
	else
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
		cur=${COMP_WORDS[COMP_CWORD]}
	fi
	COMPREPLY=()
	ctl=${words[0]/#\~/$HOME}
	# the words after tetherctl up to the cursor; the last one is cur
	mapfile -t reply < <("$ctl" complete -- "${words[@]:1:cword-1}" \
		"$cur" 2>/dev/null)
	[ "${#reply[@]}" -gt 0 ] || return 0
	kind=${reply[0]}
	for c in "${reply[@]:1}"; do
		printf -v q '%q' "$c"
		COMPREPLY+=("$q")
	done
	if [ "$kind" = files ]; then
		compopt -o filenames 2>/dev/null
		mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY \
			< <(compgen -f -- "$cur")
	fi
	return 0
}
complete -F _tetherctl tetherctl
