# lme4 reference fits of models with several grouping factors (issue 17): nested (Pastes,
# egsingle's years within children within schools) and crossed (Penicillin, ScotsSec's primary
# by secondary school), and lme4's InstEval as a speed benchmark. The tests compare against
# multilevel_reference.csv without R.
#
# Usage (from the repository root):
#   python tests/toolkit/reference/export_data.py          # Pastes, Penicillin -> data/*.csv
#   Rscript tests/toolkit/reference/multilevel_reference.R # -> multilevel_reference.csv, ~5 minutes
#
# The models and their data are common.R's multilevel_models (the twin of models.py's
# MULTILEVEL_MODELS). Each is fitted by REML and by ML from lme4's default start with three
# optimizers: nloptwrap (lme4's default for lmer, default tolerances), bobyqa (minqa) with
# rhoend = 1e-10 and Nelder_Mead with FtolAbs = 1e-12, XtolRel = 1e-10 (not for InstEval, whose
# fits take tens of seconds each); then bobyqa once more from the best of these (rhobeg = 1e-3,
# rhoend = 1e-11), "bobyqa@best". The fit with the highest log-likelihood is kept (ties: the
# first) and recorded in full; of every try the log-likelihood, the number of evaluations, the
# optimizer's message and lme4's warnings are recorded too. lme4's derivatives at the optimum
# are computed for every fit (calc.derivs = TRUE; by default lme4 skips them above 10,000 rows).
#
# Output, long form (model, method, kind, name, value), first line a comment; see README.md.
suppressPackageStartupMessages(library(lme4))
options(width = 200)

file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
here <- if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg))) else "."
source(file.path(here, "common.R"))

script <- "multilevel_reference.R"
num <- function(x) sprintf("%.17g", x)
#: conditional modes are stored except for these data sets (InstEval: ~4,100 of them)
no_modes <- c("insteval")
#: egsingle's children whose modes are stored: 100 of the 1721, every ~17th child id in
#: increasing numeric order (all schools' modes are stored)
child_ids <- sort(unique(as.numeric(as.character(mlmRev::egsingle$childid))))
sampled_children <- child_ids[round(seq(1, length(child_ids), length.out = 100))]

# A column as numbers, for the checksums of the data: numbers as they are, labels that are all
# numbers as those numbers, other labels as their rank among the distinct labels in byte order
# (models.py's data_checksums does the same).
column_as_number <- function(x) {
  if (is.numeric(x)) return(as.numeric(x))
  labels <- as.character(x)
  numbers <- suppressWarnings(as.numeric(labels))
  if (!anyNA(numbers)) return(numbers)
  match(labels, sort(unique(labels), method = "radix"))
}

# One lmer fit; its warnings and messages (convergence, singularity) are collected, not printed.
fit_with <- function(m, reml, optimizer, opt_ctrl = list(), start = NULL) {
  notes <- character()
  collect <- function(condition) {
    notes <<- c(notes, gsub("\\s+", " ", trimws(conditionMessage(condition))))
    invokeRestart(if (inherits(condition, "warning")) "muffleWarning" else "muffleMessage")
  }
  control <- lmerControl(optimizer = optimizer, optCtrl = opt_ctrl, calc.derivs = TRUE)
  seconds <- system.time(fit <- withCallingHandlers(
    lmer(m$formula, m$data, REML = reml, start = start, control = control),
    warning = collect, message = collect))[["elapsed"]]
  list(fit = fit, notes = unique(notes), seconds = seconds, loglik = as.numeric(logLik(fit)),
       feval = fit@optinfo$feval,
       message = paste0("code ", fit@optinfo$conv$opt, ": ", paste(fit@optinfo$message, collapse = " ")))
}

# lme4's own gradient check (checkConv): the gradient of the criterion in theta scaled by the
# Cholesky factor of its Hessian, the smaller of scaled and unscaled per component, its maximum
# (lme4 warns above 0.002).
scaled_gradient <- function(fit) {
  d <- fit@optinfo$derivs
  scaled <- tryCatch(solve(chol(d$Hessian), d$gradient), error = function(e) rep(NA_real_, length(d$gradient)))
  max(pmin(abs(scaled), abs(d$gradient)))
}

rows <- list()
summary_rows <- list()
for (name in names(multilevel_models)) for (method in c("REML", "ML")) {
  m <- multilevel_model(name)
  reml <- method == "REML"
  add_rows <- function(kind, names, values) rows[[length(rows) + 1]] <<- data.frame(
    model = name, method = method, kind = kind, name = names, value = values)
  tries <- list(nloptwrap = fit_with(m, reml, "nloptwrap"),
                bobyqa = fit_with(m, reml, "bobyqa", list(maxfun = 1e5, rhoend = 1e-10)))
  if (m$data_name != "insteval")
    tries$Nelder_Mead <- fit_with(m, reml, "Nelder_Mead", list(maxfun = 1e5, FtolAbs = 1e-12, XtolRel = 1e-10))
  best <- tries[[which.max(sapply(tries, `[[`, "loglik"))]]$fit
  tries[["bobyqa@best"]] <- fit_with(m, reml, "bobyqa", list(maxfun = 1e5, rhobeg = 1e-3, rhoend = 1e-11),
                                     start = list(theta = getME(best, "theta")))
  logliks <- sapply(tries, `[[`, "loglik")
  kept <- names(tries)[which.max(logliks)]
  fit <- tries[[kept]]$fit

  add_rows("model", c("data", "formula"), c(m$data_name, m$formula_text))
  # the data lme4 saw, for the check that Python's loaders give the same rows in the same order
  add_rows("data", "n_rows", nrow(m$data))
  for (v in all.vars(m$formula)) {
    x <- column_as_number(m$data[[v]])
    add_rows("data", paste0(c("sum:", "sumsq:", "wsum:"), v), num(c(sum(x), sum(x^2), sum(seq_along(x) * x))))
  }
  add_rows("fit", c("loglik", if (reml) "REMLcrit" else "deviance", "sigma", "n_obs", "singular"),
           c(num(logLik(fit)), num(if (reml) REMLcrit(fit) else deviance(fit)), num(sigma(fit)),
             nobs(fit), isSingular(fit)))
  add_rows("n_groups", names(ngrps(fit)), ngrps(fit))
  # the random-effect terms in lme4's order (the order of theta): factor and its columns
  cnms <- getME(fit, "cnms")
  add_rows("re_term", seq_along(cnms), paste0(names(cnms), ": ", sapply(cnms, paste, collapse = ", ")))
  fe <- fixef(fit)
  add_rows("fixef", names(fe), num(fe))
  add_rows("fixef_se", names(fe), num(sqrt(diag(as.matrix(vcov(fit))))))
  theta <- getME(fit, "theta")
  add_rows("theta", names(theta), num(theta))
  add_rows("gradient", names(theta), num(fit@optinfo$derivs$gradient))
  add_rows("convergence", c("scaled_gradient", "lme4_messages"),
           c(num(scaled_gradient(fit)), paste(fit@optinfo$conv$lme4$messages, collapse = "; ")))
  # VarCorr, one term after another in theta's order: SDs (factor|var) and correlations
  # (factor|var1|var2, var1 the earlier column), and as (co)variances (factor|var1|var2, var2
  # empty for a variance); named by the grouping factor, as VarCorr's own names are mangled when
  # a factor has two terms ((year || schoolid): "schoolid.1", and "schoolid.childid").
  for (k in seq_along(cnms)) {
    S <- VarCorr(fit)[[k]]
    vars <- cnms[[k]]
    pairs <- which(lower.tri(S), arr.ind = TRUE)
    pairs <- pairs[order(pairs[, "col"], pairs[, "row"]), , drop = FALSE]
    first <- vars[pairs[, "col"]]
    second <- vars[pairs[, "row"]]
    add_rows("sd", paste(names(cnms)[k], vars, sep = "|"), num(sqrt(diag(S))))
    if (nrow(pairs)) add_rows("cor", paste(names(cnms)[k], first, second, sep = "|"), num(cov2cor(S)[pairs]))
    add_rows("vcov", paste(names(cnms)[k], c(vars, first), c(rep("", length(vars)), second), sep = "|"),
             num(c(diag(S), S[pairs])))
  }
  add_rows("sd", "Residual|", num(sigma(fit)))
  add_rows("vcov", "Residual||", num(sigma(fit)^2))
  add_rows("optimizer", c("kept", paste0("loglik:", names(tries)), paste0("feval:", names(tries))),
           c(kept, num(logliks), sapply(tries, `[[`, "feval")))
  for (opt in names(tries)) {
    add_rows("optimizer_message", opt, tries[[opt]]$message)
    if (length(tries[[opt]]$notes)) add_rows("warning", opt, tries[[opt]]$notes)
  }
  # conditional modes and conditional SDs: name = factor|level|term
  if (!m$data_name %in% no_modes) {
    re <- as.data.frame(ranef(fit, condVar = TRUE), stringsAsFactors = FALSE)
    re$grpvar <- as.character(re$grpvar)
    re$grp <- as.character(re$grp)
    re$term <- as.character(re$term)
    is_child <- grepl("childid", re$grpvar)
    if (any(is_child)) {
      position <- match("childid", strsplit(re$grpvar[is_child][1], ":")[[1]])
      child <- as.numeric(sapply(strsplit(re$grp[is_child], ":"), `[`, position))
      keep <- !is_child
      keep[is_child] <- child %in% sampled_children
      re <- re[keep, ]
    }
    labels <- paste(re$grpvar, re$grp, re$term, sep = "|")
    add_rows("mode", labels, num(re$condval))
    add_rows("mode_sd", labels, num(re$condsd))
  }
  summary_rows[[length(summary_rows) + 1]] <- data.frame(
    model = name, method = method, loglik = sprintf("%.6f", logLik(fit)),
    groups = paste(names(ngrps(fit)), ngrps(fit), sep = "=", collapse = " "), singular = isSingular(fit),
    kept = kept, spread = sprintf("%.1e", max(logliks) - min(logliks)),
    default_gap = sprintf("%.1e", max(logliks) - logliks[["nloptwrap"]]),
    scaled_grad = sprintf("%.1e", scaled_gradient(fit)),
    seconds = paste(sprintf("%s %.1f", names(tries), sapply(tries, `[[`, "seconds")), collapse = ", "))
}
out <- do.call(rbind, rows)
con <- file(file.path(here, "multilevel_reference.csv"), "w")
writeLines(sprintf("# made by %s with %s, lme4 %s, mlmRev %s, %s", script, R.version.string,
                   packageVersion("lme4"), packageVersion("mlmRev"), format(Sys.Date())), con)
write.csv(out, con, row.names = FALSE)
close(con)
cat("wrote", nrow(out), "rows\n")
print(do.call(rbind, summary_rows), row.names = FALSE, right = FALSE)

# InstEval as a speed benchmark: lme4's default lmer (nloptwrap, derivatives skipped above
# 10,000 rows), timed; printed only (timings differ between runs and machines).
m <- multilevel_model("insteval")
for (method in c("REML", "ML")) {
  seconds <- system.time(fit <- lmer(m$formula, m$data, REML = method == "REML"))[["elapsed"]]
  cat(sprintf("InstEval %s, lme4's defaults: %.1f s, loglik %.6f\n", method, seconds, logLik(fit)))
}
