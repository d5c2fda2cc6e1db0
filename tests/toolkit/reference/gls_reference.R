# nlme's gls (marginal models with correlated errors within groups) for tests/toolkit/test_gls.py.
#
# Usage (from the repository root, after export_data.py has written the small data sets):
#   Rscript tests/toolkit/reference/gls_reference.R   # -> gls_reference.csv
#
# Orthodont (distance ~ age + Sex) with independent, compound-symmetric, AR(1) and CAR(1) errors
# within Subject, and the Blackmore model's fixed part with CAR(1) errors in age within subject,
# each by REML and ML.  Output, long form: model, method, kind, name, value.
suppressPackageStartupMessages(library(nlme))

file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
here <- if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg))) else "."
source(file.path(here, "common.R"))

models <- list(
  list(name = "orthodont_independent", data = orthodont_by_age, formula = distance ~ age + Sex, correlation = NULL),
  list(name = "orthodont_cs", data = orthodont_by_age, formula = distance ~ age + Sex,
       correlation = corCompSymm(form = ~ 1 | Subject)),
  list(name = "orthodont_ar1", data = orthodont_by_age, formula = distance ~ age + Sex, correlation = corAR1(form = ~ 1 | Subject)),
  list(name = "orthodont_car1", data = orthodont_by_age, formula = distance ~ age + Sex,
       correlation = corCAR1(form = ~ age | Subject)),
  list(name = "blackmore_car1", data = blackmore, formula = log_exercise ~ time * group,
       correlation = corCAR1(form = ~ age | subject))
)
for (m in models) {
  for (method in c("REML", "ML")) {
    fit <- gls(m$formula, data = m$data, correlation = m$correlation, method = method)
    add(m$name, method, "fit", "loglik", logLik(fit)[1])
    add(m$name, method, "fit", "sigma", fit$sigma)
    beta <- coef(fit)
    se <- sqrt(diag(vcov(fit)))
    for (k in seq_along(beta)) {
      add(m$name, method, "coef", names(beta)[k], beta[k])
      add(m$name, method, "se", names(beta)[k], se[k])
    }
    if (!is.null(m$correlation)) add(m$name, method, "phi", "phi", coef(fit$modelStruct$corStruct, unconstrained = FALSE))
  }
}
write_long("gls_reference.R")
