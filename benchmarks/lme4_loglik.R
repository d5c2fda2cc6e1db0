# lme4's log-likelihood of one model, the reference of benchmarks/python_peers.py (which runs
# this script and caches what it prints in benchmarks/lme4_logliks.csv, with this file's sha256).
#
#   Rscript benchmarks/lme4_loglik.R DATA_DIR FORMULA METHODS
#
# DATA_DIR holds columns.txt (one column name a line), rows.txt (the number of rows) and one
# file NAME.f64 per column: the values as little-endian float64 (grouping codes included;
# lmer makes a factor of a grouping variable).  METHODS is "ML", "REML" or "ML,REML".
# Prints one line per method: METHOD SECONDS LOGLIK, each fit lmer with its default control
# (timed once with proc.time, for the record only: the benchmark does not interleave it).
suppressMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]
model <- as.formula(args[2])
methods <- strsplit(args[3], ",")[[1]]
columns <- readLines(file.path(dir, "columns.txt"))
rows <- as.integer(readLines(file.path(dir, "rows.txt")))
data <- as.data.frame(setNames(lapply(columns, function(name) {
  readBin(file.path(dir, paste0(name, ".f64")), what = "double", n = rows, size = 8, endian = "little")
}), columns))
for (method in methods) {
  start <- proc.time()[["elapsed"]]
  fit <- suppressMessages(suppressWarnings(lmer(model, data = data, REML = method == "REML")))
  seconds <- proc.time()[["elapsed"]] - start
  cat(method, seconds, sprintf("%.10f", as.numeric(logLik(fit))), "\n")
}
