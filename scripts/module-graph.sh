#!/usr/bin/env bash
# Prints the dependency graph between the top-level modules of `src/` (who refers to whom
# through `crate::X`), and every import cycle among the feature modules. Exits non-zero when
# there is a cycle, so CI (tests/module_graph.rs) keeps them from coming back.
#
# Usage: scripts/module-graph.sh [--all]
#   --all   check cycles among every top-level module, not only the feature modules.
#
# Comments and string literals are ignored: a doc link is not a dependency.
set -euo pipefail
cd "$(dirname "$0")/.."

# The modules that must not form a cycle (ARCHITECTURE.md §11). `app` (the shared state every
# handler receives) and `lib`/`main` (the crate roots) sit above them by design; `testutil` (the
# unit tests' helpers) is checked too, so that it stays a leaf any module's tests can use.
FEATURES="api federation web transcode media engine uploads tracker store video metrics config
  client bencode fuzz runtime time ratelimit html mail testutil runners storage redundancy"
# Modules checked as one node ("a+b", space-separated), for layers that are one on purpose.
# None today: the video domain's types live below the store (`store -> video` only).
ONE_NODE=""
[ "${1:-}" = "--all" ] && FEATURES=ALL

perl - "$FEATURES" "$ONE_NODE" <<'PERL'
use strict; use warnings;
my ($features, $groups) = @ARGV;
my %check = map { $_ => 1 } split /\s+/, $features;
my %node;   # module -> the node it is checked as
for my $g (split /\s+/, $groups) { $node{$_} = $g for split /\+/, $g }
my %mods;   # top-level module names
for my $e (glob("src/*")) {
    (my $n = $e) =~ s{^src/}{}; $n =~ s{\.rs$}{};
    next if $n eq "lib" || $n eq "main";
    next unless -d $e || $e =~ /\.rs$/;
    $mods{$n} = 1;
}
my %edges;  # "a b" => 1
sub files_of { my ($m) = @_; my @f;
    push @f, "src/$m.rs" if -f "src/$m.rs";
    if (-d "src/$m") { open(my $fh, "-|", "find", "src/$m", "-name", "*.rs") or die; chomp(my @l = <$fh>); push @f, @l; }
    return sort @f; }
for my $m (sort keys %mods) {
    for my $f (files_of($m)) {
        open(my $fh, "<", $f) or die "$f: $!";
        my $text = do { local $/; <$fh> };
        # Blank out comments and literals (raw strings, strings, chars), leftmost first.
        $text =~ s{ r(\#*)".*?"\1 | "(?:[^"\\]|\\.)*" | '(?:[^'\\]|\\.)' | //[^\n]* | /\*.*?\*/ }{ }gsx;
        # crate::x::… and grouped crate::{x::…, y}
        while ($text =~ /\bcrate::([a-z_][a-z0-9_]*)/g) { $edges{"$m $1"} = 1 if $1 ne $m && $mods{$1}; }
        while ($text =~ /\bcrate::\{([^;]*?)\};/gs) {
            my $g = $1; my $depth = 0; my $tok = ""; my @top;
            for my $c (split //, "$g,") {
                if ($c eq "{") { $depth++ } elsif ($c eq "}") { $depth-- }
                elsif ($c eq "," && $depth == 0) { push @top, $tok; $tok = ""; next }
                $tok .= $c if $depth == 0;
            }
            for (@top) { if (/^\s*([a-z_][a-z0-9_]*)/ && $1 ne $m && $mods{$1}) { $edges{"$m $1"} = 1 } }
        }
    }
}
my %adj; for (sort keys %edges) { my ($a, $b) = split; push @{$adj{$a}}, $b; }
print "edges (module -> modules it uses):\n";
for my $m (sort keys %mods) { printf "  %-11s -> %s\n", $m, join(" ", @{$adj{$m} || []}); }
# Tarjan over the checked modules only, grouped modules as one node.
my %adj_mod = %adj; %adj = ();
my %seen_node;
for my $a (grep { $features eq "ALL" || $check{$_} } sort keys %mods) {
    my $na = $node{$a} // $a; $seen_node{$na} = 1;
    for my $b (@{$adj_mod{$a} || []}) {
        next unless $features eq "ALL" || $check{$b};
        my $nb = $node{$b} // $b;
        push @{$adj{$na}}, $nb unless $na eq $nb || grep { $_ eq $nb } @{$adj{$na} || []};
    }
}
my @nodes = sort keys %seen_node;
my %in = map { $_ => 1 } @nodes;
my ($idx, %index, %low, %on, @stack, @sccs) = (0);
sub strong { my ($v) = @_;
    $index{$v} = $low{$v} = $idx++; push @stack, $v; $on{$v} = 1;
    for my $w (grep { $in{$_} } @{$adj{$v} || []}) {
        if (!defined $index{$w}) { strong($w); $low{$v} = $low{$w} if $low{$w} < $low{$v} }
        elsif ($on{$w}) { $low{$v} = $index{$w} if $index{$w} < $low{$v} }
    }
    if ($low{$v} == $index{$v}) { my @c; my $w;
        do { $w = pop @stack; $on{$w} = 0; push @c, $w } while ($w ne $v);
        push @sccs, [sort @c] if @c > 1; }
}
for (@nodes) { strong($_) unless defined $index{$_} }
print "checked for cycles: ", join(" ", @nodes), "\n";
if (!@sccs) { print "cycles: none\n"; exit 0 }
print "cycles:\n";
for my $c (@sccs) {
    my %s = map { $_ => 1 } @$c;
    print "  {", join(" ", @$c), "}:";
    for my $a (@$c) { for my $b (grep { $s{$_} } @{$adj{$a} || []}) { print " $a->$b" } }
    print "\n";
}
exit 1;
PERL
