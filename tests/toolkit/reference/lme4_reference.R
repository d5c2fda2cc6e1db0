# lme4 reference fits for tests/toolkit/test_against_lme4.py.
#
# Usage (from the repository root):
#   python tests/toolkit/reference/export_data.py      # small data sets -> data/*.csv
#   Rscript tests/toolkit/reference/lme4_reference.R   # -> lme4_reference.csv
#
# Each model is fitted by REML and ML with two optimizers (bobyqa, Nelder_Mead); the fit
# with the higher log-likelihood is kept (the best optimum lme4 finds) and recorded.
# Output: one long CSV (model, method, kind, name, value); see README.md.
suppressPackageStartupMessages(library(lme4))
options(width = 200)

file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
here <- if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg))) else "."
source(file.path(here, "common.R"))

datasets <- list(
  sleepstudy = transform(read("sleepstudy"), Minutes = Days * 1440, Year = Days + 2000),
  Dyestuff = read("Dyestuff"), Dyestuff2 = read("Dyestuff2"), Orthodont = read("Orthodont"),
  Machines = read("Machines"), Oxboys = read("Oxboys"), ergoStool = read("ergoStool"), hsb = hsb)

# start_from: a model of which this one is a linear reparametrization (covariate rescaled or
# shifted). From lme4's default start both optimizers stop short on these badly scaled
# versions, so both are also started at that model's optimum mapped to this parametrization.
hsb_full <- paste("mathach ~ meanses + sector + cses + meanses:cses + I(meanses^2):cses +",
                  "sector:cses + (1 + cses | school)")
models <- matrix(ncol = 4, byrow = TRUE, dimnames = list(NULL, c("id", "data", "formula", "start_from")), c(
  "sleep_slope",        "sleepstudy", "Reaction ~ Days + (Days | Subject)",                     "",
  "sleep_minutes",      "sleepstudy", "Reaction ~ Minutes + (Minutes | Subject)",               "sleep_slope",
  "sleep_year",         "sleepstudy", "Reaction ~ Year + (Year | Subject)",                     "sleep_slope",
  "sleep_uncorr",       "sleepstudy", "Reaction ~ Days + (Days || Subject)",                    "",
  "sleep_two_terms",    "sleepstudy", "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", "",
  "sleep_intercept",    "sleepstudy", "Reaction ~ Days + (1 | Subject)",                        "",
  "sleep_quadratic",    "sleepstudy", "Reaction ~ I(Days^2) + Days + (1 | Subject)",            "",
  "dyestuff",           "Dyestuff",   "Yield ~ 1 + (1 | Batch)",                                "",
  "dyestuff2",          "Dyestuff2",  "Yield ~ 1 + (1 | Batch)",                                "",
  "orthodont",          "Orthodont",  "distance ~ age + Sex + (age | Subject)",                 "",
  "machines_slope",     "Machines",   "score ~ Machine + (Machine | Worker)",                   "",
  "machines_intercept", "Machines",   "score ~ Machine + (1 | Worker)",                         "",
  "oxboys",             "Oxboys",     "height ~ age + (age | Subject)",                         "",
  "ergostool",          "ergoStool",  "effort ~ Type + (1 | Subject)",                          "",
  "hsb_slope",          "hsb",        "mathach ~ cses + (1 + cses | school)",                   "",
  "hsb_null",           "hsb",        "mathach ~ 1 + (1 | school)",                             "",
  "hsb_full",           "hsb",        hsb_full,                                                 ""))

# One lmer fit; its warnings and messages (convergence, singularity) are collected, not printed.
fit_with <- function(formula, data, reml, optimizer, start = NULL) {
  notes <- character()
  collect <- function(condition) {
    notes <<- c(notes, gsub("\\s+", " ", trimws(conditionMessage(condition))))
    invokeRestart(if (inherits(condition, "warning")) "muffleWarning" else "muffleMessage")
  }
  fit <- withCallingHandlers(
    lmer(as.formula(formula), data, REML = reml, start = start,
         control = lmerControl(optimizer = optimizer, optCtrl = list(maxfun = 1e5))),
    warning = collect, message = collect)
  list(fit = fit, notes = unique(notes),
       optimizer_message = paste0("code ", fit@optinfo$conv$opt, ": ", fit@optinfo$message))
}

# theta of `old`'s optimum in the parametrization of `new` (new X = old X A, one grouping factor).
mapped_theta <- function(new, old) {
  M <- solve(qr.solve(getME(old, "X"), getME(new, "X")))
  L <- t(chol(M %*% VarCorr(old)[[1]] %*% t(M))) / sigma(old)
  L[lower.tri(L, diag = TRUE)]
}

num <- function(x) sprintf("%.17g", x)
rows <- list()
kept_fits <- list()
for (i in seq_len(nrow(models))) for (method in c("REML", "ML")) {
  m <- models[i, ]
  data <- datasets[[m[["data"]]]]
  tries <- lapply(c(bobyqa = "bobyqa", Nelder_Mead = "Nelder_Mead"),
                  function(opt) fit_with(m[["formula"]], data, method == "REML", opt))
  if (nzchar(m[["start_from"]])) {
    start <- list(theta = mapped_theta(tries$bobyqa$fit, kept_fits[[paste(m[["start_from"]], method)]]))
    for (opt in c("bobyqa", "Nelder_Mead"))
      tries[[paste0(opt, "@", m[["start_from"]])]] <- fit_with(m[["formula"]], data, method == "REML",
                                                               opt, start)
  }
  logliks <- sapply(tries, function(t) as.numeric(logLik(t$fit)))
  kept <- names(tries)[which.max(logliks)]  # ties: the first
  fit <- kept_fits[[paste(m[["id"]], method)]] <- tries[[kept]]$fit
  vc <- as.data.frame(VarCorr(fit))
  vc$var1[is.na(vc$var1)] <- ""
  vc$var2[is.na(vc$var2)] <- ""
  vars <- all.vars(as.formula(m[["formula"]]))
  fe <- fixef(fit)
  theta <- getME(fit, "theta")
  add <- function(kind, name, value) rows[[length(rows) + 1]] <<- data.frame(
    model = m[["id"]], method = method, kind = kind, name = name, value = value)
  add("model", c("data", "formula"), c(m[["data"]], m[["formula"]]))
  # the data lme4 saw: sum and sum of squares of each numeric variable, levels of each factor
  for (v in vars) if (is.numeric(data[[v]])) {
    add("data", paste0(c("sum:", "sumsq:"), v), num(c(sum(data[[v]]), sum(data[[v]]^2))))
  } else add("data", paste0("levels:", v), nlevels(data[[v]]))
  add("fit", c("loglik", if (method == "REML") "REMLcrit" else "deviance", "sigma", "n_obs", "singular"),
      c(num(logLik(fit)), num(if (method == "REML") REMLcrit(fit) else deviance(fit)),
        num(sigma(fit)), nobs(fit), isSingular(fit)))
  add("n_groups", names(ngrps(fit)), ngrps(fit))
  add("fixef", names(fe), num(fe))
  add("fixef_se", names(fe), num(sqrt(diag(as.matrix(vcov(fit))))))
  add("theta", names(theta), num(theta))
  # VarCorr as (co)variances: name = group|var1|var2 (var2 empty for a variance)
  add("vcov", paste(vc$grp, vc$var1, vc$var2, sep = "|"), num(vc$vcov))
  add("optimizer", c("kept", paste0("loglik:", names(tries))), c(kept, num(logliks)))
  for (opt in names(tries)) {
    add("optimizer_message", opt, tries[[opt]]$optimizer_message)
    if (length(tries[[opt]]$notes)) add("warning", opt, tries[[opt]]$notes)
  }
}
rows <- do.call(rbind, rows)

out <- file.path(here, "lme4_reference.csv")
writeLines(sprintf("# written by tests/toolkit/reference/lme4_reference.R with %s, lme4 %s, nlme %s on %s",
                   R.version.string, packageVersion("lme4"), packageVersion("nlme"), Sys.Date()), out)
suppressWarnings(write.table(rows, out, sep = ",", row.names = FALSE, append = TRUE, qmethod = "double"))
cat("wrote", nrow(rows), "rows for", nrow(models), "models to", out, "\n")
summary <- reshape(subset(rows, kind == "optimizer" | name %in% c("loglik", "singular"))[, -3],
                   idvar = c("model", "method"), timevar = "name", direction = "wide")
print(summary, row.names = FALSE)
